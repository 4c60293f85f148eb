//! The one response body type: a small buffer for gateway-made answers, or the
//! upstream's body streamed through with an idle timeout (never buffered whole).

pub use crate::upstream::error::BodyError;
use crate::upstream::h1::WireBody;
use crate::upstream::WireReturn;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    #[project = GwBodyProj]
    pub enum GwBody {
        Full { data: Option<Bytes> },
        Wire { #[pin] inner: WireBody<WireReturn> },
    }
}

impl GwBody {
    pub fn full(data: impl Into<Bytes>) -> Self {
        GwBody::Full {
            data: Some(data.into()),
        }
    }
    pub fn empty() -> Self {
        GwBody::Full { data: None }
    }
}

impl Body for GwBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.project() {
            GwBodyProj::Full { data } => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(|d| Ok(Frame::data(d))),
            ),
            GwBodyProj::Wire { inner } => inner.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GwBody::Full { data } => data.as_ref().is_none_or(|d| d.is_empty()),
            GwBody::Wire { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GwBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            GwBody::Wire { inner } => inner.size_hint(),
        }
    }
}
