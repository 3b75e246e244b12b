//! The build script: lists the board's static files (`static/`) for `src/web/board/assets.rs`,
//! which embeds them, so the binary runs from anywhere and a new browser module needs no Rust.
//! Each file becomes `(name, content type, ETag, contents)`; only flat names of letters, digits,
//! `-`, `_` and one `.`, with a known extension, are listed (anything else fails the build, so
//! nothing is served that was not meant to be). The ETag is a hash of the contents: a browser
//! revalidates each file and gets `304 Not Modified` while it is unchanged.

use std::fmt::Write as _;
use std::path::Path;

/// Extensions served, with their content type.
const TYPES: &[(&str, &str)] = &[
    ("js", "text/javascript; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("svg", "image/svg+xml"),
];

/// FNV-1a, 64 bits: a stable fingerprint of a file's bytes (not a security measure).
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .expect("static/ is readable")
        .map(|entry| {
            let entry = entry.expect("static/ is readable");
            entry
                .file_name()
                .into_string()
                .expect("static/ names are UTF-8")
        })
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for name in names {
        let (stem, ext) = name.split_once('.').unwrap_or((&name, ""));
        let safe = !stem.is_empty()
            && stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let content_type = TYPES.iter().find(|(known, _)| *known == ext);
        let Some((_, content_type)) = content_type.filter(|_| safe) else {
            panic!("static/{name}: only flat names with an extension in {TYPES:?} are served");
        };
        let path = root.join(&name);
        let bytes = std::fs::read(&path).expect("a static file is readable");
        writeln!(
            out,
            "    ({name:?}, {content_type:?}, \"\\\"{:016x}\\\"\", include_str!({:?})),",
            fingerprint(&bytes),
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
