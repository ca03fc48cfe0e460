//! codex-protocol's own description of its events, for Python's generated types and drift tests.
//!
//! [`event_schema`] is the JSON schema (schemars, draft-07) that codex-protocol derives for
//! `EventMsg`; `TurnItem` and every payload type are in its `definitions`. Python's event and
//! item classes are generated from it (`scripts/gen_events.py`), and a test compares the classes
//! with the schema of the codex-core this build links. [`roundtrip_event`] decodes and re-encodes
//! an event with codex's real serde types, so a test can show Python and codex-core agree on
//! every field.

use codex_protocol::items::TurnItem;
use codex_protocol::protocol::EventMsg;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::CoreError;

/// The JSON schema of codex-protocol's `EventMsg` (with `TurnItem` in its definitions), as text.
#[pyfunction]
pub fn event_schema() -> PyResult<String> {
    let schema = schemars::schema_for!(EventMsg);
    serde_json::to_string_pretty(&schema)
        .map_err(|e| CoreError::Internal(format!("cannot serialize codex's event schema: {e}")).into_pyerr())
}

/// Decodes `json` as codex's `EventMsg` (or `TurnItem` when `item` is true) with codex's own
/// serde types and encodes it again. Raises `ValueError` with serde's message when codex-core
/// does not accept the JSON.
#[pyfunction]
#[pyo3(signature = (json, item=false))]
pub fn roundtrip_event(json: &str, item: bool) -> PyResult<String> {
    let encoded = if item {
        serde_json::from_str::<TurnItem>(json).and_then(|v| serde_json::to_string(&v))
    } else {
        serde_json::from_str::<EventMsg>(json).and_then(|v| serde_json::to_string(&v))
    };
    encoded.map_err(|e| PyValueError::new_err(e.to_string()))
}
