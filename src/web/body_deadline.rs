//! A request body must arrive in full within `HERALD_REQUEST_BODY_TIMEOUT_SECONDS` of its
//! head. The HTTP server times out request heads (5 s) but not bodies: a client that sent a
//! head with a `Content-Length` and then nothing, or a byte now and then, held its
//! connection and the handler waiting on it for as long as it liked. Past the deadline the
//! body reads as an error, answered `400` (JSON under `/api/`), and the connection closes.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use futures_util::Stream;
use tokio::time::{Duration, Sleep};

use crate::web::state::AppState;

/// A request body as actix hands it around.
type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// The body as the handler reads it, ending in an error once the deadline has passed.
struct BodyWithDeadline<S> {
    body: S,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    expired: bool,
}

impl<S> Stream for BodyWithDeadline<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let message = format!(
                "the request body did not arrive within {} s",
                self.limit.as_secs()
            );
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                message,
            )))));
        }
        Poll::Pending
    }
}

/// Whether the request announces a body (chunks, or a length above zero).
fn announces_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers.get(header::CONTENT_LENGTH).is_some_and(|length| {
        length
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_none_or(|length| length > 0)
    })
}

pub async fn within_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let limit = req
        .app_data::<Data<AppState>>()
        .map(|state| state.settings.request_body_timeout);
    if let Some(limit) = limit
        && announces_body(&req)
    {
        let body = req.take_payload();
        let timed: BodyStream = Box::pin(BodyWithDeadline {
            body,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
            expired: false,
        });
        req.set_payload(Payload::from(timed));
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn body_of(chunks: Vec<Bytes>, stall: bool) -> BodyWithDeadline<BodyStream> {
        let items = futures_util::stream::iter(chunks.into_iter().map(Ok));
        let body: BodyStream = if stall {
            Box::pin(items.chain(futures_util::stream::pending()))
        } else {
            Box::pin(items)
        };
        BodyWithDeadline {
            body,
            deadline: Box::pin(tokio::time::sleep(Duration::from_secs(30))),
            limit: Duration::from_secs(30),
            expired: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_reads_whole() {
        let mut body = body_of(
            vec![Bytes::from_static(b"a=1"), Bytes::from_static(b"&b=2")],
            false,
        );
        assert_eq!(body.next().await.unwrap().unwrap(), "a=1");
        assert_eq!(body.next().await.unwrap().unwrap(), "&b=2");
        assert!(body.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_ends_in_an_error_at_the_deadline() {
        let mut body = body_of(vec![Bytes::from_static(b"a=")], true);
        assert_eq!(body.next().await.unwrap().unwrap(), "a=");
        let started = tokio::time::Instant::now();
        let err = body.next().await.unwrap().unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert!(err.to_string().contains("within 30 s"), "{err}");
        assert!(body.next().await.is_none());
    }
}
