//! Progress display (indicatif): a bar on stderr with live ops/s on real-clock runs and the
//! configuration count in `study`. Shown only when stdout and stderr are both terminals and
//! `--quiet` is not given, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::Progress;

/// Whether to draw bars at all.
pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The bar of a real-clock run: the load by items, then the run by time (when it has a
/// duration) or by ops, with ops/s over the last half second.
pub struct RunBar {
    show: bool,
    duration: Option<Duration>,
    state: Mutex<RunState>,
}

struct RunState {
    pb: Option<ProgressBar>,
    by_time: bool,
    /// Last rate sample: (ops done, elapsed) and the ops/s it gave.
    last: (u64, Duration),
    rate: f64,
}

impl RunBar {
    /// `duration`: the run phase's length, if it has one.
    pub fn new(quiet: bool, duration: Option<Duration>) -> RunBar {
        RunBar {
            show: visible(quiet),
            duration,
            state: Mutex::new(RunState {
                pb: None,
                by_time: false,
                last: (0, Duration::ZERO),
                rate: 0.0,
            }),
        }
    }
}

impl Progress for RunBar {
    fn phase(&self, name: &str, total: Option<u64>) {
        if !self.show {
            return;
        }
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if let Some(pb) = s.pb.take() {
            pb.finish_and_clear();
        }
        let by_time = name == "run" && self.duration.is_some();
        let pb = if by_time {
            let d = self.duration.unwrap_or_default();
            let pb = ProgressBar::new(d.as_millis() as u64);
            pb.set_style(style(
                "{prefix:>4} [{elapsed_precise}] [{wide_bar}] {percent:>3}% {msg}",
            ));
            pb
        } else {
            match total {
                Some(n) => {
                    let pb = ProgressBar::new(n);
                    pb.set_style(style(
                        "{prefix:>4} [{elapsed_precise}] [{wide_bar}] {human_pos}/{human_len} {msg}",
                    ));
                    pb
                }
                None => {
                    let pb = ProgressBar::new_spinner();
                    pb.set_style(style("{prefix:>4} [{elapsed_precise}] {spinner} {msg}"));
                    pb
                }
            }
        };
        pb.set_prefix(name.to_string());
        *s = RunState {
            pb: Some(pb),
            by_time,
            last: (0, Duration::ZERO),
            rate: 0.0,
        };
    }

    fn tick(&self, done: u64, elapsed: Duration) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let dt = elapsed.saturating_sub(s.last.1);
        if dt >= Duration::from_millis(500) {
            s.rate = done.saturating_sub(s.last.0) as f64 / dt.as_secs_f64();
            s.last = (done, elapsed);
        }
        let (rate, by_time) = (s.rate, s.by_time);
        if let Some(pb) = &s.pb {
            pb.set_position(if by_time {
                elapsed.as_millis() as u64
            } else {
                done
            });
            pb.set_message(format!("{rate:>9.0} ops/s  {done} ops"));
        }
    }

    fn finish(&self) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(pb) = s.pb.take() {
                pb.finish_and_clear();
            }
        }
    }
}

/// The study's bar: one step per configuration; log lines go above it (or to stderr when it
/// is hidden, and nowhere with `--quiet`).
pub struct StudyBar {
    pb: Option<ProgressBar>,
    quiet: bool,
}

impl StudyBar {
    pub fn new(quiet: bool, configs: usize) -> StudyBar {
        let pb = visible(quiet).then(|| {
            let pb = ProgressBar::new(configs as u64);
            pb.set_style(style(
                "[{elapsed_precise}] [{bar:30}] {pos}/{len} configurations, eta {eta}  {wide_msg}",
            ));
            pb
        });
        StudyBar { pb, quiet }
    }

    /// The configuration now running.
    pub fn start(&self, what: &str) {
        if let Some(pb) = &self.pb {
            pb.set_message(what.to_string());
        }
    }

    /// One configuration finished, with its log line.
    pub fn done(&self, line: &str) {
        match &self.pb {
            Some(pb) => {
                pb.println(line);
                pb.inc(1);
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.pb {
            pb.finish_and_clear();
        }
    }
}
