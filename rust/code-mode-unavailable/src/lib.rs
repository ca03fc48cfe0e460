//! codex-code-mode without V8.
//!
//! Exposes the names codex-core uses from codex-code-mode. Every session provider refuses to
//! create a session with [`UNAVAILABLE`], so a config that enables code mode fails its code
//! cells with a readable message instead of the process failing to build or crashing.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use codex_code_mode_protocol::*;

/// The error every code-mode session request returns.
pub const UNAVAILABLE: &str = "code mode is not available in codexrs (built without V8)";

fn refuse<'a>() -> CodeModeSessionProviderFuture<'a> {
    Box::pin(async { Err(UNAVAILABLE.to_string()) })
}

/// Stand-in for the in-process (V8) provider: always refuses.
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcessCodeModeSessionProvider;

impl CodeModeSessionProvider for InProcessCodeModeSessionProvider {
    fn create_session<'a>(
        &'a self,
        _delegate: Arc<dyn CodeModeSessionDelegate>,
    ) -> CodeModeSessionProviderFuture<'a> {
        refuse()
    }
}

/// Stand-in for the provider that runs V8 in a host process: always refuses.
#[derive(Clone, Debug, Default)]
pub struct ProcessOwnedCodeModeSessionProvider {
    _host_program: Option<PathBuf>,
}

impl ProcessOwnedCodeModeSessionProvider {
    /// Accepts the host program for API compatibility; it is never started.
    pub fn with_host_program(host_program: PathBuf) -> Self {
        Self { _host_program: Some(host_program) }
    }
}

impl CodeModeSessionProvider for ProcessOwnedCodeModeSessionProvider {
    fn create_session<'a>(
        &'a self,
        _delegate: Arc<dyn CodeModeSessionDelegate>,
    ) -> CodeModeSessionProviderFuture<'a> {
        refuse()
    }
}

/// A delegate that refuses nested tools and ignores notifications.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopCodeModeSessionDelegate;

impl CodeModeSessionDelegate for NoopCodeModeSessionDelegate {
    fn invoke_tool<'a>(
        &'a self,
        _invocation: CodeModeNestedToolCall,
        _cancellation_token: CancellationToken,
    ) -> ToolInvocationFuture<'a> {
        Box::pin(async { Err(UNAVAILABLE.to_string()) })
    }

    fn notify<'a>(
        &'a self,
        _call_id: String,
        _cell_id: CellId,
        _text: String,
        _cancellation_token: CancellationToken,
    ) -> NotificationFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn cell_closed(&self, _cell_id: &CellId) {}
}

/// JIT mode of the (absent) V8 platform.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum V8JitMode {
    #[default]
    Enabled,
    Disabled,
}

/// Always fails: there is no V8 in this build.
pub fn initialize_v8(_jit_mode: V8JitMode) -> Result<(), String> {
    Err(UNAVAILABLE.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refused(provider: &dyn CodeModeSessionProvider) -> String {
        match provider.create_session(Arc::new(NoopCodeModeSessionDelegate)).await {
            Ok(_) => panic!("a session was created without V8"),
            Err(error) => error,
        }
    }

    #[tokio::test]
    async fn every_provider_refuses_with_a_clear_error() {
        assert_eq!(refused(&InProcessCodeModeSessionProvider).await, UNAVAILABLE);
        let owned = ProcessOwnedCodeModeSessionProvider::with_host_program("/bin/true".into());
        assert_eq!(refused(&owned).await, UNAVAILABLE);
        assert_eq!(initialize_v8(V8JitMode::Disabled), Err(UNAVAILABLE.to_string()));
    }
}
