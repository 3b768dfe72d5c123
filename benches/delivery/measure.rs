//! What the repeated scenarios print beside their own figures: the machine's load, the CPU
//! time Herald's processes and PostgreSQL's processes used, and min/median/max over runs.

use std::str::FromStr;
use std::time::Instant;

/// A setting of the benchmark from the environment, or `default` when unset or blank.
pub fn env_number<T: FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={value} is not a number")),
        _ => Ok(default),
    }
}

/// The value at quantile `q` (0..=1) of sorted values.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((last as f64) * q) as usize])
}

/// The fields of /proc/PID/stat after the command name: [0] is field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(
        after_name
            .split_whitespace()
            .map(|field| field.parse().unwrap_or(0))
            .collect(),
    )
}

/// Fields 4 (ppid), 14 (utime), 15 (stime), 16 (cutime), 17 (cstime) of /proc/PID/stat.
const PPID: usize = 1;
const UTIME: usize = 11;
const STIME: usize = 12;
const CUTIME: usize = 13;
const CSTIME: usize = 14;

/// User + system CPU time of one process (all its threads), in clock ticks.
pub fn process_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    Some(fields.get(UTIME)? + fields.get(STIME)?)
}

/// User + system CPU time of a PostgreSQL server: the postmaster, the backends it has
/// already reaped, and those alive now.
fn postgres_ticks(postmaster: u32) -> Option<u64> {
    let main = stat_fields(postmaster)?;
    let mut ticks = main.get(UTIME)? + main.get(STIME)? + main.get(CUTIME)? + main.get(CSTIME)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(fields) = stat_fields(pid)
            && fields.get(PPID) == Some(&u64::from(postmaster))
        {
            ticks += fields.get(UTIME).unwrap_or(&0) + fields.get(STIME).unwrap_or(&0);
        }
    }
    Some(ticks)
}

/// The PostgreSQL server's main process, read from `postmaster.pid` in its data directory
/// (readable when the server runs on this machine and the benchmark may read its files).
pub fn postmaster_pid(conn: &mut diesel::PgConnection) -> Option<u32> {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_directory: String,
    }
    let setting: Setting =
        diesel::RunQueryDsl::get_result(diesel::sql_query("SHOW data_directory"), conn).ok()?;
    let pid_file =
        std::fs::read_to_string(format!("{}/postmaster.pid", setting.data_directory)).ok()?;
    pid_file.lines().next()?.trim().parse().ok()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The machine's load and the CPU time used so far, at one moment.
pub struct Snapshot {
    at: Instant,
    load: String,
    herald_ticks: u64,
    postgres_ticks: Option<u64>,
}

impl Snapshot {
    /// `herald_ticks`: the CPU time of the Herald processes being measured.
    pub fn take(herald_ticks: u64, postmaster: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            load: loadavg(),
            herald_ticks,
            postgres_ticks: postmaster.and_then(postgres_ticks),
        }
    }

    /// What was used between `start` and this snapshot.
    pub fn since(&self, start: &Snapshot) -> Usage {
        let seconds = |ticks: u64| ticks as f64 / ticks_per_second();
        Usage {
            wall_seconds: self.at.duration_since(start.at).as_secs_f64(),
            herald_seconds: seconds(self.herald_ticks.saturating_sub(start.herald_ticks)),
            postgres_seconds: match (start.postgres_ticks, self.postgres_ticks) {
                (Some(before), Some(after)) => Some(seconds(after.saturating_sub(before))),
                _ => None,
            },
            load_before: start.load.clone(),
            load_after: self.load.clone(),
        }
    }
}

/// The machine's load before and after a run, and the CPU time used meanwhile.
pub struct Usage {
    pub wall_seconds: f64,
    pub herald_seconds: f64,
    /// `None` when the server's processes cannot be seen from here.
    pub postgres_seconds: Option<f64>,
    load_before: String,
    load_after: String,
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let postgres = self
            .postgres_seconds
            .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1} s"));
        write!(
            f,
            "load {} → {}   CPU: Herald {:.1} s, PostgreSQL {postgres}, in {:.1} s",
            self.load_before, self.load_after, self.herald_seconds, self.wall_seconds
        )
    }
}

/// Figures of repeated runs, printed as min / median / max.
#[derive(Default)]
pub struct Runs {
    rows: Vec<(String, Vec<f64>)>,
}

impl Runs {
    pub fn add(&mut self, label: &str, value: f64) {
        if !value.is_finite() {
            return;
        }
        match self.rows.iter_mut().find(|(l, _)| l == label) {
            Some((_, values)) => values.push(value),
            None => self.rows.push((label.to_owned(), vec![value])),
        }
    }

    /// The CPU figures of one run.
    pub fn add_usage(&mut self, usage: &Usage) {
        self.add("CPU s, Herald", usage.herald_seconds);
        if let Some(postgres) = usage.postgres_seconds {
            self.add("CPU s, PostgreSQL", postgres);
        }
    }

    pub fn print(&self, title: &str) {
        let runs = self.rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        println!("{title}, {runs} run(s): min / median / max");
        for (label, values) in &self.rows {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let at = |q| percentile(&sorted, q).unwrap_or(f64::NAN);
            // Small figures (ms per delivery, commits per delivery) need more places.
            let places = if sorted.iter().all(|v| v.abs() < 10.0) {
                3
            } else {
                1
            };
            println!(
                "    {label:<46} {:>9.places$} {:>9.places$} {:>9.places$}",
                at(0.0),
                at(0.5),
                at(1.0)
            );
        }
    }
}
