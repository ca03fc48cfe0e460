//! codex's thread store seen from codexrs: finding a stored thread (by id or rollout path),
//! listing, archiving, naming. Everything goes through codex-core's own `ThreadStore` (the
//! rollout files under `codex_home/sessions` and the state database), the one the `codex` CLI
//! writes, so threads move freely between codexrs processes and the CLI.

use std::path::PathBuf;
use std::sync::Arc;

use codex_core::ThreadManager;
use codex_protocol::ThreadId;
use codex_protocol::protocol::InitialHistory;
use codex_protocol::protocol::ResumedHistory;
use codex_rollout::state_db::normalize_cwd_for_state_db;
use codex_thread_store::ArchiveThreadParams;
use codex_thread_store::ListThreadsParams;
use codex_thread_store::ReadThreadByRolloutPathParams;
use codex_thread_store::ReadThreadParams;
use codex_thread_store::SortDirection;
use codex_thread_store::StoredThread;
use codex_thread_store::ThreadMetadataPatch;
use codex_thread_store::ThreadPage;
use codex_thread_store::ThreadSortKey;
use codex_thread_store::ThreadStore;
use codex_thread_store::ThreadStoreError;
use serde_json::Value;
use serde_json::json;

use crate::errors::CoreError;
use crate::errors::CoreResult;

/// What `thread_resume` was given: a thread id, or a rollout file.
pub enum Target {
    Id(ThreadId),
    Path(PathBuf),
}

impl Target {
    /// A UUID is a thread id; anything else must be an existing rollout file.
    pub fn parse(value: &str) -> CoreResult<Target> {
        if let Ok(id) = ThreadId::from_string(value) {
            return Ok(Target::Id(id));
        }
        let path = PathBuf::from(value);
        if !path.is_file() {
            return Err(CoreError::ThreadNotFound(format!(
                "{value:?} is neither a thread id nor an existing rollout file"
            )));
        }
        Ok(Target::Path(path))
    }
}

pub fn parse_id(value: &str) -> CoreResult<ThreadId> {
    ThreadId::from_string(value)
        .map_err(|e| CoreError::ThreadNotFound(format!("{value:?} is not a codex thread id: {e}")))
}

/// codex's store errors as codexrs's: an unknown thread is `ThreadNotFound`, a file that is
/// not a usable rollout is `Rollout`.
fn store_error(err: ThreadStoreError, what: &str) -> CoreError {
    match err {
        ThreadStoreError::ThreadNotFound { thread_id } => CoreError::ThreadNotFound(format!("{what}: no thread {thread_id}")),
        ThreadStoreError::InvalidRequest { message } if message.starts_with("no rollout found")
            || message.starts_with("no archived rollout found") =>
        {
            CoreError::ThreadNotFound(format!("{what}: {message}"))
        }
        ThreadStoreError::InvalidRequest { message } | ThreadStoreError::Conflict { message } => {
            CoreError::Rollout(format!("{what}: {message}"))
        }
        ThreadStoreError::Internal { message } => CoreError::Rollout(format!("{what}: {message}")),
        ThreadStoreError::Unsupported { operation } => {
            CoreError::Codex(format!("{what}: the thread store does not support {operation}"))
        }
    }
}

/// Reads a stored thread (with its history when `history`), archived ones included.
pub async fn read(store: &Arc<dyn ThreadStore>, target: &Target, history: bool) -> CoreResult<StoredThread> {
    match target {
        Target::Id(id) => store
            .read_thread(ReadThreadParams { thread_id: *id, include_archived: true, include_history: history })
            .await
            .map_err(|e| store_error(e, &format!("reading thread {id}"))),
        Target::Path(path) => store
            .read_thread_by_rollout_path(ReadThreadByRolloutPathParams {
                rollout_path: path.clone(),
                include_archived: true,
                include_history: history,
            })
            .await
            .map_err(|e| store_error(e, &format!("reading rollout {}", path.display()))),
    }
}

/// A stored thread's history, refusing an archived or empty one.
pub fn history_of(stored: StoredThread) -> CoreResult<(StoredThread, Vec<codex_protocol::protocol::RolloutItem>)> {
    let id = stored.thread_id;
    if stored.archived_at.is_some() {
        return Err(CoreError::Rollout(format!("thread {id} is archived: thread_unarchive() it first")));
    }
    let mut stored = stored;
    let items = stored.history.take().map(|h| h.items).unwrap_or_default();
    if items.is_empty() {
        return Err(CoreError::Rollout(format!("thread {id} has no stored history (an empty or truncated rollout)")));
    }
    Ok((stored, items))
}

/// The history codex resumes or forks from: a stored thread's rollout items.
pub fn resumed(stored: &StoredThread, items: Vec<codex_protocol::protocol::RolloutItem>) -> InitialHistory {
    InitialHistory::Resumed(ResumedHistory {
        conversation_id: stored.thread_id,
        history: Arc::new(items),
        rollout_path: stored.rollout_path.clone(),
    })
}

/// A stored thread as codexrs shows it (Python: `codexrs.StoredThread`). Times are Unix seconds.
pub fn info(t: &StoredThread) -> Value {
    json!({
        "id": t.thread_id.to_string(),
        "name": t.name,
        "preview": t.preview,
        "cwd": t.cwd,
        "created_at": t.created_at.timestamp(),
        "updated_at": t.updated_at.timestamp(),
        "archived_at": t.archived_at.map(|a| a.timestamp()),
        "rollout_path": t.rollout_path,
        "model_provider": t.model_provider,
        "model": t.model,
        "forked_from_id": t.forked_from_id.map(|id| id.to_string()),
        "source": serde_json::to_value(&t.source).unwrap_or(Value::Null),
        "cli_version": t.cli_version,
    })
}

/// One page of the store's threads, newest first: `{"data": [info...], "next_cursor": ...}`.
///
/// Every listing goes to codex without metadata filters (no provider list, no cwd), as the
/// app-server's `thread/list` does for "every provider": codex then answers from its state
/// database, whose cursor is the last thread's creation time in milliseconds. With any filter
/// codex returns its rollout-file scan instead, whose cursor is the creation *second* of the
/// page's last file, and the next page skips every thread created in that second
/// (codex-rollout `list.rs` `AnchorState::should_skip`). So `cwd` is filtered here, over
/// codex's unfiltered pages; a page that ends inside one of codex's is asked for again, cut
/// there, so that its cursor is still one codex made.
pub async fn list(
    store: &Arc<dyn ThreadStore>,
    cwd: Option<PathBuf>,
    archived: bool,
    limit: usize,
    cursor: Option<String>,
) -> CoreResult<Value> {
    let limit = limit.clamp(1, 100);
    let Some(wanted) = cwd.as_deref().map(normalize_cwd_for_state_db) else {
        let page = codex_page(store, archived, limit, cursor).await?;
        return Ok(page_json(&page.items, page.next_cursor));
    };
    let mut kept: Vec<StoredThread> = Vec::new();
    let mut cursor = cursor;
    loop {
        let page = codex_page(store, archived, 100, cursor.clone()).await?;
        let total = page.items.len();
        for (n, thread) in page.items.into_iter().enumerate() {
            if normalize_cwd_for_state_db(&thread.cwd) == wanted {
                kept.push(thread);
            }
            if kept.len() == limit {
                let next = if n + 1 == total {
                    page.next_cursor
                } else {
                    codex_page(store, archived, n + 1, cursor).await?.next_cursor
                };
                return Ok(page_json(&kept, next));
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(page_json(&kept, None)),
        }
    }
}

/// One page of codex's listing of every stored thread (live or archived), newest first.
async fn codex_page(
    store: &Arc<dyn ThreadStore>,
    archived: bool,
    page_size: usize,
    cursor: Option<String>,
) -> CoreResult<ThreadPage> {
    store
        .list_threads(ListThreadsParams {
            page_size,
            cursor,
            sort_key: ThreadSortKey::CreatedAt,
            sort_direction: SortDirection::Desc,
            allowed_sources: Vec::new(), // every source: the CLI's, exec's, codexrs's
            model_providers: None,       // every provider (an empty list is a filter to codex)
            cwd_filters: None,
            archived,
            search_term: None,
            relation_filter: None,
            use_state_db_only: false,
        })
        .await
        .map_err(|e| store_error(e, "listing threads"))
}

fn page_json(threads: &[StoredThread], next_cursor: Option<String>) -> Value {
    json!({"data": threads.iter().map(info).collect::<Vec<_>>(), "next_cursor": next_cursor})
}

/// Moves a thread's rollout to `archived_sessions/` (unloading it first if loaded).
pub async fn archive(store: &Arc<dyn ThreadStore>, manager: &ThreadManager, id: ThreadId) -> CoreResult<()> {
    if let Ok(thread) = manager.get_thread(id).await {
        let _ = thread.shutdown_and_wait().await;
        manager.remove_thread(&id).await;
    }
    store
        .archive_thread(ArchiveThreadParams { thread_id: id })
        .await
        .map_err(|e| store_error(e, &format!("archiving thread {id}")))
}

/// Moves an archived thread's rollout back to `sessions/`.
pub async fn unarchive(store: &Arc<dyn ThreadStore>, id: ThreadId) -> CoreResult<Value> {
    let stored = store
        .unarchive_thread(ArchiveThreadParams { thread_id: id })
        .await
        .map_err(|e| store_error(e, &format!("unarchiving thread {id}")))?;
    Ok(info(&stored))
}

/// Writes the thread's name into codex's own metadata (what `codex resume` shows).
pub async fn set_name(manager: &ThreadManager, id: ThreadId, name: &str) -> CoreResult<Value> {
    let name = codex_core::util::normalize_thread_name(name)
        .ok_or_else(|| CoreError::Config("a thread name must not be empty".into()))?;
    let patch = ThreadMetadataPatch { name: Some(Some(name)), ..Default::default() };
    let stored = manager
        .update_thread_metadata(id, patch, false)
        .await
        .map_err(|e| CoreError::Codex(format!("naming thread {id}: {e}")))?;
    Ok(info(&stored))
}

/// A stored thread read back: `{"thread": info, "events": [{"id": "", "msg": EventMsg}...]}`,
/// the codex events its rollout keeps, in order (which ones depends on codex's persistence
/// policy: turn boundaries, token counts, messages, ...).
pub async fn history(store: &Arc<dyn ThreadStore>, id: ThreadId) -> CoreResult<Value> {
    let mut stored = read(store, &Target::Id(id), true).await?;
    let items = stored.history.take().map(|h| h.items).unwrap_or_default();
    let events: Vec<Value> = items
        .iter()
        .filter_map(|item| match item {
            codex_protocol::protocol::RolloutItem::EventMsg(msg) => serde_json::to_value(msg).ok(),
            _ => None,
        })
        .map(|msg| json!({"id": "", "msg": msg}))
        .collect();
    Ok(json!({"thread": info(&stored), "events": events}))
}
