//! Starting a workflow by hand (`workflow_dispatch`): its inputs, read from the workflow file's
//! `on.workflow_dispatch.inputs`, and the check of what a person filled in, before it goes to
//! `POST /repos/{owner}/{repo}/actions/workflows/{id}/dispatches`.
//!
//! The file is parsed with `serde_yaml_ng` (a maintained fork of `serde_yaml`). YAML 1.1 reads an
//! unquoted `on` key as `true`; both spellings are looked for. Input types are GitHub's: `string`
//! (the default), `boolean`, `number`, `choice` (with `options`) and `environment` (a name, taken
//! as a string here).

use serde::Serialize;
use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value;

/// Why a workflow file or a form cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The file is not YAML.
    #[error("the workflow file is not valid YAML: {0}")]
    NotYaml(String),
    /// The workflow has no `workflow_dispatch` trigger: it cannot be started by hand.
    #[error("this workflow has no workflow_dispatch trigger, so it cannot be started by hand")]
    NoDispatch,
    /// A value filled in does not fit its input.
    #[error("{0}")]
    BadInput(String),
}

/// The kind of an input, as the form shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    String,
    Boolean,
    Number,
    Choice { options: Vec<String> },
    Environment,
}

/// One input of a `workflow_dispatch` trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
    /// The default, as text (`"true"` for a boolean).
    pub default: Option<String>,
    #[serde(flatten)]
    pub kind: Kind,
}

/// A YAML scalar as text.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The inputs of the workflow file `yaml` (in the file's order).
///
/// # Errors
/// [`Error::NotYaml`], or [`Error::NoDispatch`] without a `workflow_dispatch` trigger.
pub fn inputs(yaml: &str) -> Result<Vec<Input>, Error> {
    let file: Value = serde_yaml_ng::from_str(yaml).map_err(|e| Error::NotYaml(e.to_string()))?;
    let on = file
        .get("on")
        .or_else(|| file.as_mapping().and_then(|m| m.get(Value::Bool(true))))
        .ok_or(Error::NoDispatch)?;
    let dispatch = match on {
        Value::String(name) if name == "workflow_dispatch" => return Ok(Vec::new()),
        Value::Sequence(names)
            if names
                .iter()
                .any(|n| n.as_str() == Some("workflow_dispatch")) =>
        {
            return Ok(Vec::new())
        }
        Value::Mapping(triggers) => triggers.get("workflow_dispatch").ok_or(Error::NoDispatch)?,
        _ => return Err(Error::NoDispatch),
    };
    let Some(declared) = dispatch.get("inputs").and_then(Value::as_mapping) else {
        return Ok(Vec::new());
    };
    Ok(declared
        .iter()
        .filter_map(|(name, spec)| Some(input(text(name)?, spec)))
        .collect())
}

fn input(name: String, spec: &Value) -> Input {
    let options = || {
        spec.get("options")
            .and_then(Value::as_sequence)
            .map(|list| list.iter().filter_map(text).collect())
            .unwrap_or_default()
    };
    let kind = match spec.get("type").and_then(Value::as_str).unwrap_or("string") {
        "boolean" => Kind::Boolean,
        "number" => Kind::Number,
        "choice" => Kind::Choice { options: options() },
        "environment" => Kind::Environment,
        _ => Kind::String,
    };
    Input {
        name,
        description: spec.get("description").and_then(text),
        required: spec.get("required").and_then(Value::as_bool) == Some(true),
        default: spec.get("default").and_then(text),
        kind,
    }
}

/// What is sent to GitHub for the values `given` (a JSON object by input name; strings,
/// booleans or numbers): each value as text, checked against its input.
///
/// # Errors
/// [`Error::BadInput`] naming the input: unknown, missing while required (with no default), or
/// not of its kind.
pub fn check(inputs: &[Input], given: &Map<String, Json>) -> Result<Map<String, Json>, Error> {
    let bad = |message: String| Err(Error::BadInput(message));
    if let Some(unknown) = given.keys().find(|k| !inputs.iter().any(|i| &i.name == *k)) {
        return bad(format!("this workflow has no input named {unknown:?}"));
    }
    let mut checked = Map::new();
    for input in inputs {
        let value = match given.get(&input.name) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) if s.is_empty() && input.kind != Kind::String => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Bool(b)) => Some(b.to_string()),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return bad(format!(
                    "{}: give a string, a number or true/false",
                    input.name
                ))
            }
        };
        let Some(value) = value else {
            if input.required && input.default.is_none() {
                return bad(format!("{} is required", input.name));
            }
            continue;
        };
        match &input.kind {
            Kind::Boolean if value != "true" && value != "false" => {
                return bad(format!("{} must be true or false", input.name))
            }
            Kind::Number if value.trim().parse::<f64>().is_err() => {
                return bad(format!("{} must be a number, not {value:?}", input.name))
            }
            Kind::Choice { options } if !options.contains(&value) => {
                return bad(format!(
                    "{} must be one of {}, not {value:?}",
                    input.name,
                    options.join(", ")
                ))
            }
            _ => {}
        }
        checked.insert(input.name.clone(), Json::String(value));
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A workflow file with one input of each kind (the integration tests dispatch it too).
    const DEPLOY: &str = include_str!("../../tests/fixtures/workflows/dispatch-inputs.yml");

    #[test]
    fn the_inputs_are_read_from_the_workflow_file() {
        let inputs = inputs(DEPLOY).unwrap();
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["environment", "dry_run", "replicas", "note"]);
        assert_eq!(
            inputs[0].kind,
            Kind::Choice {
                options: vec!["staging".into(), "production".into()]
            }
        );
        assert!(inputs[0].required);
        assert_eq!(inputs[1].kind, Kind::Boolean);
        assert_eq!(inputs[1].default.as_deref(), Some("true"));
        assert_eq!(inputs[2].kind, Kind::Number);
        assert_eq!(inputs[3].kind, Kind::String);
        assert_eq!(inputs[3].description.as_deref(), Some("Free text"));
    }

    #[test]
    fn a_workflow_without_the_trigger_or_with_it_bare_is_told_apart() {
        assert_eq!(inputs("on: [push]\njobs: {}\n"), Err(Error::NoDispatch));
        assert_eq!(inputs("on: workflow_dispatch\n").unwrap(), vec![]);
        assert_eq!(inputs("on: [push, workflow_dispatch]\n").unwrap(), vec![]);
        assert!(matches!(inputs("on: [unclosed"), Err(Error::NotYaml(_))));
    }

    #[test]
    fn filled_in_values_are_checked_against_their_inputs() {
        let inputs = inputs(DEPLOY).unwrap();
        let ok = json!({"environment": "staging", "dry_run": false, "replicas": "3"});
        let sent = check(&inputs, ok.as_object().unwrap()).unwrap();
        assert_eq!(
            Json::Object(sent),
            json!({"environment": "staging", "dry_run": "false", "replicas": "3"})
        );
        let refused = |given: Json| check(&inputs, given.as_object().unwrap()).unwrap_err();
        assert_eq!(
            refused(json!({"dry_run": true})),
            Error::BadInput("environment is required".into())
        );
        assert!(refused(json!({"environment": "moon"}))
            .to_string()
            .contains("must be one of staging, production"));
        assert!(
            refused(json!({"environment": "staging", "replicas": "many"}))
                .to_string()
                .contains("must be a number")
        );
        assert!(refused(json!({"environment": "staging", "oops": "1"}))
            .to_string()
            .contains("no input named \"oops\""));
    }
}
