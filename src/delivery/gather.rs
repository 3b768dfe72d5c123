//! Gathers what arrives on a channel into one batch: everything already waiting, then, while
//! the batch is still small, what arrives within a short window. The recorder uses it so that
//! at a trickle (a few hundred deliveries a second) several outcomes share one transaction
//! instead of each paying for its own commit; under load the batch is full at once and nothing
//! waits. An item that must not wait (the caller says which) ends the window at once.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// How a batch is gathered.
#[derive(Debug, Clone, Copy)]
pub struct Gathering {
    /// The most items one batch takes.
    pub most: usize,
    /// How long after the first item the batch waits for more (while it holds fewer than
    /// `most`). Zero: take only what is already waiting.
    pub window: Duration,
}

/// The next batch, or `None` once the channel is closed and empty. A closed channel ends the
/// window at once (shutdown waits for nothing), and so does an item for which `urgent` holds:
/// the batch then takes only what is already waiting.
pub async fn next_batch<T>(
    receiver: &mut mpsc::Receiver<T>,
    gathering: Gathering,
    urgent: impl Fn(&T) -> bool,
) -> Option<Vec<T>> {
    let first = receiver.recv().await?;
    let until = Instant::now() + gathering.window;
    let mut waits = !urgent(&first);
    let mut batch = vec![first];
    while batch.len() < gathering.most {
        let next = match receiver.try_recv() {
            Ok(next) => next,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) if waits => {
                match tokio::time::timeout_at(until, receiver.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) | Err(_) => break,
                }
            }
            Err(mpsc::error::TryRecvError::Empty) => break,
        };
        waits &= !urgent(&next);
        batch.push(next);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATHERING: Gathering = Gathering {
        most: 4,
        window: Duration::from_millis(20),
    };

    fn never(_: &i32) -> bool {
        false
    }

    #[tokio::test(start_paused = true)]
    async fn items_arriving_within_the_window_share_a_batch() {
        let (sender, mut receiver) = mpsc::channel(16);
        let feeder = tokio::spawn(async move {
            for n in 0..3 {
                sender.send(n).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            sender.send(3).await.unwrap();
        });
        let started = Instant::now();
        assert_eq!(
            next_batch(&mut receiver, GATHERING, never).await,
            Some(vec![0, 1, 2])
        );
        // The first batch closed when its window ended, not when the next item came.
        assert_eq!(started.elapsed(), Duration::from_millis(20));
        assert_eq!(
            next_batch(&mut receiver, GATHERING, never).await,
            Some(vec![3])
        );
        feeder.await.unwrap();
        assert_eq!(next_batch(&mut receiver, GATHERING, never).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_without_waiting() {
        let (sender, mut receiver) = mpsc::channel(16);
        for n in 0..6 {
            sender.send(n).await.unwrap();
        }
        let started = Instant::now();
        assert_eq!(
            next_batch(&mut receiver, GATHERING, never).await,
            Some(vec![0, 1, 2, 3])
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_window_at_once() {
        let (sender, mut receiver) = mpsc::channel(16);
        sender.send(1).await.unwrap();
        drop(sender);
        let started = Instant::now();
        assert_eq!(
            next_batch(&mut receiver, GATHERING, never).await,
            Some(vec![1])
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(next_batch(&mut receiver, GATHERING, never).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_window_only_what_waits_is_taken() {
        let (sender, mut receiver) = mpsc::channel(16);
        sender.send(1).await.unwrap();
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            sender.send(2).await.unwrap();
        });
        let gathering = Gathering {
            window: Duration::ZERO,
            ..GATHERING
        };
        assert_eq!(
            next_batch(&mut receiver, gathering, never).await,
            Some(vec![1])
        );
        late.await.unwrap();
        assert_eq!(
            next_batch(&mut receiver, gathering, never).await,
            Some(vec![2])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_urgent_item_ends_the_window() {
        let (sender, mut receiver) = mpsc::channel(16);
        let feeder = tokio::spawn(async move {
            sender.send(1).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            // Negative items are urgent: the batch goes as soon as one is in it.
            sender.send(-2).await.unwrap();
            sender.send(3).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            sender.send(4).await.unwrap();
        });
        let started = Instant::now();
        let urgent = |n: &i32| *n < 0;
        assert_eq!(
            next_batch(&mut receiver, GATHERING, urgent).await,
            Some(vec![1, -2, 3])
        );
        assert_eq!(started.elapsed(), Duration::from_millis(5));
        assert_eq!(
            next_batch(&mut receiver, GATHERING, urgent).await,
            Some(vec![4])
        );
        feeder.await.unwrap();
    }
}
