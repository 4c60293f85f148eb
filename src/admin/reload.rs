//! `/tyk/reload` and `/tyk/reload/group`: re-read the files now.

use super::request::query_flag;
use super::respond::ok_message;
use crate::respond::body::GwBody;
use crate::state::AppState;
use http::Response;
use std::sync::Arc;

pub(super) async fn reload(state: &Arc<AppState>, query: Option<&str>) -> Response<GwBody> {
    let block = query_flag(query, "block").is_some_and(|v| v == "true" || v == "1");
    if block {
        // The answer is Tyk's either way; a rejected file set shows on /hello.
        let _ = state.reload("api").await;
    } else {
        let st = state.clone();
        tokio::spawn(async move {
            let _ = st.reload("api").await;
        });
    }
    ok_message()
}
