//! `UpdateService.GetUpdates`: the processed updates after an offset, with offset checkpoints
//! interleaved, then following live as the participant processes more.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::super::config::Availability;
use super::super::node::LocalKind;
use super::super::running::Shared;
use super::convert::{self, Context, UpdateFilter};
use super::unavailable;
use crate::probe::canton::proto::com::daml::ledger::api::v2 as lapi;
use lapi::get_updates_response::Update;

/// Updates examined per lock of the simulation.
const BATCH: usize = 256;
/// Responses buffered per stream before the follower waits for the client.
const CHANNEL: usize = 128;

type Item = Result<lapi::GetUpdatesResponse, Status>;

/// The update service.
#[derive(Clone)]
pub(crate) struct Updates {
    shared: Arc<Shared>,
}

impl Updates {
    pub(crate) fn new(shared: Arc<Shared>) -> Updates {
        Updates { shared }
    }
}

#[tonic::async_trait]
impl lapi::update_service_server::UpdateService for Updates {
    type GetUpdatesStream = ReceiverStream<Item>;

    async fn get_updates(
        &self,
        request: Request<lapi::GetUpdatesRequest>,
    ) -> Result<Response<Self::GetUpdatesStream>, Status> {
        let req = request.into_inner();
        let filter = UpdateFilter::parse(
            req.update_format.as_ref(),
            &self.shared.treasury,
            &self.shared.package_id,
        )?;
        let (epoch, end) = {
            let world = self.shared.world();
            (world.epoch, world.node.ledger_end())
        };
        validate_range(req.begin_exclusive, req.end_inclusive, end)?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let follower = Follower {
            shared: Arc::clone(&self.shared),
            filter,
            epoch,
            cursor: req.begin_exclusive,
            end_inclusive: req.end_inclusive,
            tx,
            last_checkpoint: None,
            last_checkpoint_at: None,
        };
        tokio::spawn(follower.run());
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Checks the requested offsets against the ledger end as Canton does.
fn validate_range(begin: i64, end_inclusive: Option<i64>, ledger_end: i64) -> Result<(), Status> {
    if begin < 0 {
        return Err(Status::invalid_argument(format!(
            "NEGATIVE_OFFSET: Offset {begin} in begin_exclusive is a negative integer: use 0 for the participant begin or a positive offset"
        )));
    }
    if begin > ledger_end {
        return Err(Status::out_of_range(format!(
            "OFFSET_AFTER_LEDGER_END: Begin offset ({begin}) is after ledger end ({ledger_end})"
        )));
    }
    if let Some(end) = end_inclusive {
        if end < 0 {
            return Err(Status::invalid_argument(format!(
                "NEGATIVE_OFFSET: Offset {end} in end_inclusive is a negative integer"
            )));
        }
        if end > ledger_end {
            return Err(Status::out_of_range(format!(
                "OFFSET_AFTER_LEDGER_END: End offset ({end}) is after ledger end ({ledger_end})"
            )));
        }
        if end < begin {
            return Err(Status::invalid_argument(format!(
                "OFFSET_OUT_OF_RANGE: Begin offset {begin} must be less than or equal to the end offset {end}"
            )));
        }
    }
    Ok(())
}

/// What one look at the simulation produced.
struct Step {
    responses: Vec<lapi::GetUpdatesResponse>,
    checkpoint: Option<(i64, DateTime<Utc>)>,
    /// The bounded stream reached its end.
    done: bool,
    /// More updates are ready right away.
    more: bool,
}

/// Feeds one stream.
struct Follower {
    shared: Arc<Shared>,
    filter: UpdateFilter,
    epoch: u64,
    cursor: i64,
    end_inclusive: Option<i64>,
    tx: mpsc::Sender<Item>,
    last_checkpoint: Option<(i64, DateTime<Utc>)>,
    last_checkpoint_at: Option<Instant>,
}

impl Follower {
    async fn run(mut self) {
        let mut pulses = self.shared.subscribe();
        let interval = self.shared.config.checkpoint_interval;
        loop {
            pulses.borrow_and_update();
            let step = match self.collect() {
                Ok(step) => step,
                Err(status) => {
                    let _ = self.tx.send(Err(status)).await;
                    return;
                }
            };
            for response in step.responses {
                if self.tx.send(Ok(response)).await.is_err() {
                    return;
                }
            }
            if let Some(cp) = step.checkpoint
                && self.checkpoint_due(cp, interval)
            {
                let sync = &self.shared.synchronizer_id;
                let message = lapi::GetUpdatesResponse {
                    update: Some(Update::OffsetCheckpoint(convert::checkpoint(
                        cp.0, sync, cp.1,
                    ))),
                };
                if self.tx.send(Ok(message)).await.is_err() {
                    return;
                }
                self.last_checkpoint = Some(cp);
                self.last_checkpoint_at = Some(Instant::now());
            }
            if step.done {
                return;
            }
            if step.more {
                continue;
            }
            tokio::select! {
                changed = pulses.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(interval) => {}
                _ = self.tx.closed() => return,
            }
        }
    }

    /// A checkpoint is sent when it covers new offsets, or when only record time advanced and
    /// the previous one is at least `interval` old.
    fn checkpoint_due(&self, cp: (i64, DateTime<Utc>), interval: std::time::Duration) -> bool {
        match (self.last_checkpoint, self.last_checkpoint_at) {
            (Some(last), Some(at)) => cp.0 > last.0 || (cp.1 > last.1 && at.elapsed() >= interval),
            _ => true,
        }
    }

    fn collect(&mut self) -> Result<Step, Status> {
        let world = self.shared.world();
        if world.epoch != self.epoch || world.availability != Availability::Up {
            return Err(unavailable());
        }
        let ctx = Context {
            synchronizer_id: &self.shared.synchronizer_id,
            treasury: &self.shared.treasury,
            package_id: &self.shared.package_id,
        };
        let updates = world.node.updates();
        let history = world.sync.history();
        let end = world.node.ledger_end();
        let limit = self.end_inclusive.map_or(end, |e| e.min(end));
        let start = updates.partition_point(|u| u.offset <= self.cursor);
        let mut responses = Vec::new();
        let mut scanned = 0;
        let mut last_record_time = None;
        for u in &updates[start..] {
            if u.offset > limit || scanned >= BATCH {
                break;
            }
            scanned += 1;
            if let LocalKind::Treasury { index } = u.kind
                && let Some(tx) = history.get(index)
                && let Some(t) = convert::transaction(tx, u.offset, &ctx, &self.filter)
            {
                responses.push(lapi::GetUpdatesResponse {
                    update: Some(Update::Transaction(t)),
                });
            }
            self.cursor = u.offset;
            last_record_time = Some(u.record_time);
        }
        let next = updates.get(start + scanned);
        let more = next.is_some_and(|u| u.offset <= limit);
        let checkpoint = if self.cursor == end {
            Some((end, world.node.clean()))
        } else {
            // Inside the history, a checkpoint may only claim a record time that no later
            // update shares.
            match (last_record_time, next) {
                (Some(rt), Some(n)) if n.record_time > rt => Some((self.cursor, rt)),
                _ => None,
            }
        };
        let done = self.end_inclusive.is_some_and(|e| self.cursor >= e);
        Ok(Step {
            responses,
            checkpoint,
            done,
            more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_against_the_ledger_end() {
        let code = |b, e, end| validate_range(b, e, end).map_err(|s| s.code());
        assert_eq!(code(0, None, 0), Ok(()));
        assert_eq!(code(5, Some(7), 10), Ok(()));
        assert_eq!(code(5, Some(5), 10), Ok(()));
        assert_eq!(code(-1, None, 10), Err(tonic::Code::InvalidArgument));
        assert_eq!(code(11, None, 10), Err(tonic::Code::OutOfRange));
        assert_eq!(code(1, Some(11), 10), Err(tonic::Code::OutOfRange));
        assert_eq!(code(6, Some(5), 10), Err(tonic::Code::InvalidArgument));
    }
}
