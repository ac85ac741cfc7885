//! `HERALD_SEND_RATE` for the whole deployment. The next free send time is
//! kept in the database; a process books a short run of send times at once
//! (a tenth of a second's worth) and spaces its messages over it, so three
//! processes at 100/s send 100/s between them, at one booking per run.

use std::time::Duration;

use tokio::sync::Mutex;

use super::WriteGate;
use crate::delivery::deployment;
use crate::store::Store;

/// What one booking covers, in send times: a tenth of a second's worth, so
/// a process never holds times the others could use for long.
const RUNS_PER_SECOND: u32 = 10;
const MAX_RUN: u32 = 1_000;
/// Between tries at booking while the database is away.
const BOOKING_RETRY: Duration = Duration::from_millis(500);

pub(super) struct Pacer {
    store: Store,
    write_gate: WriteGate,
    /// Send times per booking.
    run: u32,
    /// How long a run lasts, in microseconds.
    run_micros: i64,
    booked: Mutex<Booked>,
}

/// The run of send times this process holds.
struct Booked {
    start_micros: i64,
    used: u32,
}

impl Pacer {
    pub(super) fn new(store: Store, write_gate: WriteGate, per_second: u32) -> Self {
        let per_second = per_second.max(1);
        let run = (per_second / RUNS_PER_SECOND).clamp(1, MAX_RUN);
        let run_micros = i64::from(run) * 1_000_000 / i64::from(per_second);
        Self {
            store,
            write_gate,
            run,
            run_micros,
            booked: Mutex::new(Booked {
                start_micros: 0,
                used: run,
            }),
        }
    }

    /// Waits for this process's next send time. False when `give_up` said
    /// so while the database could not be reached to book one.
    pub(super) async fn until_ready(&self, give_up: impl Fn() -> bool) -> bool {
        let at = {
            let mut booked = self.booked.lock().await;
            if booked.used == self.run {
                loop {
                    match self.book().await {
                        Ok(start_micros) => {
                            *booked = Booked {
                                start_micros,
                                used: 0,
                            };
                            break;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot book send time; waiting for the database");
                            if give_up() {
                                return false;
                            }
                            tokio::time::sleep(BOOKING_RETRY).await;
                        }
                    }
                }
            }
            let at = booked.start_micros
                + self.run_micros * i64::from(booked.used) / i64::from(self.run);
            booked.used += 1;
            at
        };
        let wait = u64::try_from(at - now_micros()).unwrap_or(0);
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(wait)).await;
        }
        true
    }

    async fn book(&self) -> Result<i64, sqlx::Error> {
        let _turn = self.write_gate.turn().await;
        deployment::book_send_time(
            self.store.pool(),
            self.store.dialect(),
            now_micros(),
            self.run_micros,
        )
        .await
    }
}

fn now_micros() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
}
