//! The board's static files (`/static/<name>`): every file of `static/` (the browser's ES
//! modules, the styles, the icons), compiled into the binary so it runs from anywhere. The build
//! script (`src/build.rs`) lists them, so a new module is served without a change here.
//!
//! Only names in that list are answered (an exact match: nothing is read from disk, so no
//! address reaches another file). Each answer has its content type (`text/javascript` for
//! modules, which browsers require), `Cache-Control: no-cache` and an `ETag`: a browser asks
//! again on every page, and an unchanged file costs a `304 Not Modified` with no body.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use warp::http::StatusCode;
use warp::{Rejection, Reply};

/// A static file: its name, content type, ETag (quoted) and contents.
type Asset = (&'static str, &'static str, &'static str, &'static str);

/// The files of `static/`, listed by the build script.
const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// `GET /static/<name>`: the file, or `304` when `if_none_match` names its current ETag.
pub(super) async fn serve_asset(
    name: String,
    if_none_match: Option<String>,
) -> Result<warp::reply::Response, Rejection> {
    let &(_, content_type, etag, body) = find(&name).ok_or_else(warp::reject::not_found)?;
    let fresh = if_none_match.is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let reply = if fresh {
        warp::reply::with_status("", StatusCode::NOT_MODIFIED).into_response()
    } else {
        warp::reply::with_header(body, CONTENT_TYPE, content_type).into_response()
    };
    let reply = warp::reply::with_header(reply, ETAG, etag);
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-cache").into_response())
}

/// The static file called `name`, if there is one.
fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|(file, ..)| *file == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_static_is_served_with_its_type() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let (_, content_type, etag, _) = find(&name).unwrap_or_else(|| panic!("{name}"));
            if name.ends_with(".js") {
                assert_eq!(*content_type, "text/javascript; charset=utf-8");
            }
            assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
            count += 1;
        }
        assert_eq!(count, ASSETS.len());
    }

    #[test]
    fn names_outside_static_are_not_found() {
        for name in [
            "../Cargo.toml",
            "..",
            "",
            "app",
            "app.js/",
            "%2e%2e%2fCargo.toml",
        ] {
            assert!(find(name).is_none(), "{name}");
        }
    }
}
