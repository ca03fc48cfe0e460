//! Rust `tracing` records, codex-core's and codexrs's, on their way to Python `logging`.
//!
//! One process-wide subscriber (installed once, by [`install`]) filters each record in Rust:
//! by the level Python's loggers want (`codexrs.core` for codex-core and every other crate,
//! `codexrs` for ours, pushed in by [`set_levels`]) and, when set, by `RUST_LOG`-style
//! directives ([`set_directives`]). The global maximum level follows, so a disabled level costs
//! the one comparison `tracing`'s macros make. A record that passes is formatted (message,
//! fields, the `thread_id` and `turn_id` of the spans around it, secrets redacted) and put on a
//! bounded queue; a tokio worker never takes the GIL, never blocks: when the queue is full the
//! record is counted as dropped. Python drains the queue from one thread ([`drain_logs`]) and
//! reports the dropped count.

use std::sync::LazyLock;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::RwLock;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::SystemTime;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use regex::Regex;
use tracing::Event;
use tracing::Level;
use tracing::Metadata;
use tracing::Subscriber;
use tracing::field::Field;
use tracing::field::Visit;
use tracing::span::Attributes;
use tracing::span::Id;
use tracing::span::Record;
use tracing::subscriber::Interest;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::registry::SpanRef;

/// Records waiting for Python at most; past it they are counted, not queued.
pub const CAPACITY: usize = 10_000;

/// Levels as numbers: 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace.
static CORE_LEVEL: AtomicU8 = AtomicU8::new(2);
static OURS_LEVEL: AtomicU8 = AtomicU8::new(2);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static DIRECTIVES: RwLock<Option<Targets>> = RwLock::new(None);
static QUEUE: OnceLock<(mpsc::SyncSender<LogRecord>, Mutex<mpsc::Receiver<LogRecord>>)> = OnceLock::new();

/// One record, as Python gets it.
pub struct LogRecord {
    level: u8,
    target: String,
    message: String,
    fields: Vec<(String, String)>,
    thread_id: Option<String>,
    turn_id: Option<String>,
    file: Option<&'static str>,
    line: Option<u32>,
    time: f64,
}

fn level_number(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn is_ours(target: &str) -> bool {
    target.starts_with("_native") || target.starts_with("codexrs")
}

/// Spans whose fields name a thread or a turn: kept whatever the level, so records inside them
/// carry the ids (codex's `session_loop` has `thread_id`, its op dispatch `submission.id`, its
/// turn task's `turn` span `thread.id` and `turn.id`).
fn names_ids(meta: &Metadata<'_>) -> bool {
    let fields = meta.fields();
    meta.is_span()
        && (fields.field("thread_id").is_some()
            || fields.field("submission.id").is_some()
            || fields.field("thread.id").is_some())
}

fn passes(meta: &Metadata<'_>) -> bool {
    let wanted = if is_ours(meta.target()) { &OURS_LEVEL } else { &CORE_LEVEL };
    if level_number(meta.level()) > wanted.load(Ordering::Relaxed) {
        return false;
    }
    match &*DIRECTIVES.read().unwrap_or_else(std::sync::PoisonError::into_inner) {
        Some(targets) => targets.would_enable(meta.target(), meta.level()),
        None => true,
    }
}

/// The ids a span carries, kept in its extensions.
#[derive(Default, Clone)]
struct SpanIds {
    thread_id: Option<String>,
    turn_id: Option<String>,
}

impl Visit for SpanIds {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = self.set(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = self.set(field, format!("{value:?}"));
    }
}

impl SpanIds {
    /// Fills the ids still missing from the spans of `scope`, innermost first, stopping once both
    /// are known.
    fn fill_from<'a, R: LookupSpan<'a> + 'a>(&mut self, scope: impl Iterator<Item = SpanRef<'a, R>>) {
        for span in scope {
            if let Some(ids) = span.extensions().get::<SpanIds>() {
                self.thread_id = self.thread_id.take().or_else(|| ids.thread_id.clone());
                self.turn_id = self.turn_id.take().or_else(|| ids.turn_id.clone());
            }
            if self.thread_id.is_some() && self.turn_id.is_some() {
                break;
            }
        }
    }

    /// Keeps `value` if the field names a thread or a turn; hands it back otherwise.
    fn set(&mut self, field: &Field, value: String) -> Option<String> {
        match field.name() {
            "thread_id" | "thread.id" => self.thread_id = Some(value),
            "submission.id" | "turn_id" | "turn.id" => self.turn_id = Some(value),
            _ => return Some(value),
        }
        None
    }
}

/// An event's message and other fields.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, String)>,
    ids: SpanIds,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else if let Some(value) = self.ids.set(field, value) {
            self.rest.push((field.name().to_string(), value));
        }
    }
}

/// Secrets that must never reach a log line, whatever a crate prints: bearer tokens, OpenAI
/// keys, JWTs, and the values of fields and headers named like credentials.
static SECRETS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*", "${1}[redacted]"),
        (r"sk-[A-Za-z0-9_\-]{8,}", "sk-[redacted]"),
        (r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*", "[redacted JWT]"),
        (
            r#"(?i)((?:api[_-]?key|authorization|access[_-]?token|refresh[_-]?token|id[_-]?token|bearer[_-]?token|secret|password|chatgpt-account-id)"?\s*[:=]\s*(?:Some\()?\s*")[^"]+"#,
            "${1}[redacted]",
        ),
    ]
    .into_iter()
    .map(|(pattern, with)| (Regex::new(pattern).expect("a valid pattern"), with))
    .collect()
});

/// `text` with every secret pattern replaced.
pub fn redact(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    for (pattern, with) in SECRETS.iter() {
        if let std::borrow::Cow::Owned(replaced) = pattern.replace_all(&out, *with) {
            out = std::borrow::Cow::Owned(replaced);
        }
    }
    out.into_owned()
}

/// Fields whose value is a credential, by name (`api_key`, `access_token`, `authorization`,
/// ...), redacted whole unless the value is a flag or a number (`auth.header_attached=true`).
fn secret_field(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let credential = ["token", "secret", "password", "api_key", "apikey", "authorization", "bearer", "cookie"]
        .iter()
        .any(|word| name.contains(word));
    let inner = value.strip_prefix("Some(").and_then(|v| v.strip_suffix(')')).unwrap_or(value);
    credential
        && !name.ends_with("_count")
        && !matches!(inner, "true" | "false" | "None")
        && inner.parse::<f64>().is_err()
}

impl LogRecord {
    /// Puts the record on the queue for Python, or counts it as dropped when the queue is full.
    fn queue(self, tx: &mpsc::SyncSender<LogRecord>) {
        if tx.try_send(self).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Now, in Unix seconds.
fn now_unix() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

struct Bridge;

impl<S> Layer<S> for Bridge
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if names_ids(meta) { Interest::always() } else { Interest::sometimes() }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        names_ids(meta) || passes(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // codex's id-carrying spans are at INFO: keep INFO on so they exist.
        let most = CORE_LEVEL.load(Ordering::Relaxed).max(OURS_LEVEL.load(Ordering::Relaxed)).max(3);
        Some(match most {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !names_ids(attrs.metadata()) {
            return;
        }
        let mut ids = SpanIds::default();
        attrs.record(&mut ids);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(ids);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(ids) = extensions.get_mut::<SpanIds>() {
                values.record(ids);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // `enabled` already let only passing events through (an event never names ids).
        let meta = event.metadata();
        let Some((tx, _)) = QUEUE.get() else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(scope) = ctx.event_scope(event) {
            fields.ids.fill_from(scope);
        }
        LogRecord {
            level: level_number(meta.level()),
            target: meta.target().to_string(),
            message: redact(&fields.message),
            fields: fields
                .rest
                .into_iter()
                .map(|(name, value)| {
                    let value = if secret_field(&name, &value) { "[redacted]".to_string() } else { redact(&value) };
                    (name, value)
                })
                .collect(),
            thread_id: fields.ids.thread_id,
            turn_id: fields.ids.turn_id,
            file: meta.file(),
            line: meta.line(),
            time: now_unix(),
        }
        .queue(tx);
    }
}

/// The thread and turn ids of the spans around the caller (innermost first wins), read from the
/// bridge's registry; `(None, None)` when the bridge is not the process's subscriber. The panic
/// hook uses it to find the turn a panic belongs to.
pub(crate) fn current_ids() -> (Option<String>, Option<String>) {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else {
            return (None, None);
        };
        let Some(id) = dispatch.current_span().id().cloned() else { return (None, None) };
        let Some(span) = registry.span(&id) else { return (None, None) };
        let mut found = SpanIds::default();
        found.fill_from(span.scope());
        (found.thread_id, found.turn_id)
    })
}

/// Queues one record for Python directly (not through `tracing`: the panic hook, which must not
/// re-enter a subscriber). Returns false when the bridge was never installed.
pub(crate) fn push_record(
    level: u8,
    target: &str,
    message: String,
    fields: Vec<(String, String)>,
    thread_id: Option<String>,
    turn_id: Option<String>,
) -> bool {
    let Some((tx, _)) = QUEUE.get() else { return false };
    LogRecord {
        level,
        target: target.to_string(),
        message: redact(&message),
        fields,
        thread_id,
        turn_id,
        file: None,
        line: None,
        time: now_unix(),
    }
    .queue(tx);
    true
}

/// Installs the bridge as the process's `tracing` subscriber (once; later calls do nothing).
/// Returns False when another subscriber was installed first (then no record reaches Python).
#[pyfunction]
pub fn install_log_bridge() -> bool {
    if QUEUE.get().is_some() {
        return true;
    }
    let (tx, rx) = mpsc::sync_channel(CAPACITY);
    if QUEUE.set((tx, Mutex::new(rx))).is_err() {
        return true;
    }
    let subscriber = tracing_subscriber::registry().with(Bridge);
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

/// Sets the levels Python's loggers want: `core` for codex-core and every other crate, `ours`
/// for codexrs (0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace).
#[pyfunction]
pub fn set_log_levels(core: u8, ours: u8) {
    let before = (CORE_LEVEL.swap(core.min(5), Ordering::Relaxed), OURS_LEVEL.swap(ours.min(5), Ordering::Relaxed));
    if before != (core.min(5), ours.min(5)) {
        tracing::callsite::rebuild_interest_cache();
    }
}

/// Sets `RUST_LOG`-style directives (`"codex_core=debug,hyper=warn,info"`: a target prefix
/// and a level, or a level for every target), applied after the loggers' levels; `None`
/// clears them.
///
/// Raises ValueError for directives that do not parse.
#[pyfunction]
#[pyo3(signature = (directives))]
pub fn set_log_directives(directives: Option<&str>) -> PyResult<()> {
    let parsed = match directives {
        Some(text) if !text.trim().is_empty() => Some(
            text.parse::<Targets>()
                .map_err(|e| PyValueError::new_err(format!("bad log directives {text:?}: {e}")))?,
        ),
        _ => None,
    };
    *DIRECTIVES.write().unwrap_or_else(std::sync::PoisonError::into_inner) = parsed;
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

type PyRecord = (u8, String, String, Vec<(String, String)>, Option<String>, Option<String>, Option<&'static str>, Option<u32>, f64);

/// Waits up to `timeout` seconds (without the GIL, checking for signals every `runtime::SLICE`;
/// `None` or `inf`: no limit) for records; returns every record queued (at most `limit`), as
/// tuples `(level, target, message, fields, thread_id, turn_id, file, line, time)`, and how many
/// were dropped since the last call because the queue was full.
#[pyfunction]
#[pyo3(signature = (timeout, limit=4096))]
pub fn drain_logs(py: Python<'_>, timeout: Option<f64>, limit: usize) -> PyResult<(Vec<PyRecord>, u64)> {
    let Some((_, rx)) = QUEUE.get() else { return Ok((Vec::new(), 0)) };
    let deadline = crate::runtime::deadline(timeout);
    let records = loop {
        let slice = crate::runtime::slice(deadline);
        let got = py.detach(|| {
            let rx = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut out = Vec::new();
            match rx.recv_timeout(slice) {
                Ok(first) => out.push(first),
                Err(_) => return out,
            }
            while out.len() < limit.max(1) {
                match rx.try_recv() {
                    Ok(record) => out.push(record),
                    Err(_) => break,
                }
            }
            out
        });
        if !got.is_empty() || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            break got;
        }
        py.check_signals()?;
    };
    let rows = records
        .into_iter()
        .map(|r| (r.level, r.target, r.message, r.fields, r.thread_id, r.turn_id, r.file, r.line, r.time))
        .collect();
    Ok((rows, DROPPED.swap(0, Ordering::Relaxed)))
}

/// Emits one record from Rust at `level` under `target` (tests and benchmarks use it to show
/// the bridge's filtering and its queue limit).
#[pyfunction]
#[pyo3(signature = (level, message, count=1))]
pub fn emit_test_log(py: Python<'_>, level: u8, message: &str, count: usize) {
    py.detach(|| {
        for _ in 0..count {
            match level {
                1 => tracing::error!(target: "codexrs::test", "{message}"),
                2 => tracing::warn!(target: "codexrs::test", "{message}"),
                3 => tracing::info!(target: "codexrs::test", "{message}"),
                4 => tracing::debug!(target: "codexrs::test", "{message}"),
                _ => tracing::trace!(target: "codexrs::test", "{message}"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_are_redacted() {
        let line = r#"headers: {"authorization": "Bearer abc.DEF-123"} api_key=sk-proj-abcdefghijkl bearer_token: Some("tok-9")"#;
        let out = redact(line);
        assert!(!out.contains("abc.DEF-123") && !out.contains("sk-proj-abcdefghijkl") && !out.contains("tok-9"), "{out}");
        assert!(redact("experimental_bearer_token: None").ends_with("None"));
        assert_eq!(redact("no secret here"), "no secret here");
    }

    #[test]
    fn credential_fields_are_redacted_but_not_flags_or_counts() {
        use super::secret_field;
        assert!(secret_field("access_token", "abc") && secret_field("http.authorization", "Basic x"));
        assert!(!secret_field("auth.header_attached", "true") && !secret_field("input_tokens", "12"));
        assert!(!secret_field("estimated_token_count", "Some(123)"));
        assert!(!secret_field("auth_mode", "ApiKey") && !secret_field("model", "gpt"));
    }
}
