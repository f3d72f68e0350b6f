//! The task engine: a task is a queue of steps (log, sleep, lock, unlock, act) run in simulated
//! time. `World::advance_to` processes every due event in time order, so lock waits, timeouts
//! and durations behave the same in realtime and manual clock modes.

use std::collections::VecDeque;

use proxctl_types::Upid;
use proxctl_types::messages::GuestKind;
use serde::{Deserialize, Serialize};

use crate::clock::SimMillis;
use crate::lock::{LockKey, LockMode, Owner, timeout_message};
use crate::state::World;

/// A task step's action: mutate the world; an `Err` fails the task with that text.
pub type Action = Box<dyn FnOnce(&mut World, u64) -> Result<(), String> + Send + Sync>;

pub enum Step {
    Log(String),
    /// A `WARN: ` line, counted into `TASK WARNINGS: n`.
    Warn(String),
    Sleep(u64),
    Lock {
        key: LockKey,
        mode: LockMode,
        timeout_ms: u64,
        kind: GuestKind,
        prefix: String,
    },
    Unlock(LockKey),
    Do(Action),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Log(l) => write!(f, "Log({l:?})"),
            Step::Warn(l) => write!(f, "Warn({l:?})"),
            Step::Sleep(ms) => write!(f, "Sleep({ms})"),
            Step::Lock { key, mode, .. } => write!(f, "Lock({key:?}, {mode:?})"),
            Step::Unlock(k) => write!(f, "Unlock({k:?})"),
            Step::Do(_) => f.write_str("Do(..)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    Running,
    Stopped { exitstatus: String, endtime: u64 },
}

#[derive(Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub upid: Upid,
    pub log: Vec<String>,
    pub state: TaskState,
    #[serde(skip)]
    pub steps: VecDeque<Step>,
    #[serde(skip)]
    pub on_fail: Vec<Action>,
    pub wake_at: SimMillis,
    /// Deadline of the lock wait in progress, if blocked.
    pub lock_deadline: Option<SimMillis>,
    pub warnings: u32,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("upid", &self.upid.to_string())
            .field("state", &self.state)
            .field("steps", &self.steps)
            .field("wake_at", &self.wake_at)
            .finish_non_exhaustive()
    }
}

impl Task {
    pub fn is_running(&self) -> bool {
        self.state == TaskState::Running
    }

    pub fn exitstatus(&self) -> Option<&str> {
        match &self.state {
            TaskState::Stopped { exitstatus, .. } => Some(exitstatus),
            TaskState::Running => None,
        }
    }

    pub fn endtime(&self) -> Option<u64> {
        match &self.state {
            TaskState::Stopped { endtime, .. } => Some(*endtime),
            TaskState::Running => None,
        }
    }
}

/// Builds a task's steps.
#[derive(Default)]
pub struct Plan {
    pub steps: VecDeque<Step>,
    pub on_fail: Vec<Action>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan").field("steps", &self.steps).finish_non_exhaustive()
    }
}

impl Plan {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn log(mut self, l: impl Into<String>) -> Self {
        self.steps.push_back(Step::Log(l.into()));
        self
    }
    pub fn warn(mut self, l: impl Into<String>) -> Self {
        self.steps.push_back(Step::Warn(l.into()));
        self
    }
    pub fn sleep(mut self, ms: u64) -> Self {
        self.steps.push_back(Step::Sleep(ms));
        self
    }
    pub fn lock(
        mut self,
        key: LockKey,
        mode: LockMode,
        timeout_ms: u64,
        kind: GuestKind,
        prefix: &str,
    ) -> Self {
        self.steps.push_back(Step::Lock {
            key,
            mode,
            timeout_ms,
            kind,
            prefix: prefix.to_string(),
        });
        self
    }
    pub fn unlock(mut self, key: LockKey) -> Self {
        self.steps.push_back(Step::Unlock(key));
        self
    }
    pub fn act(
        mut self,
        f: impl FnOnce(&mut World, u64) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.steps.push_back(Step::Do(Box::new(f)));
        self
    }
    /// Cleanup run when the task fails (free volumes, remove a half-made config).
    pub fn on_fail(
        mut self,
        f: impl FnOnce(&mut World, u64) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.on_fail.push(Box::new(f));
        self
    }
}

/// What a VM clone takes after its disks are allocated (writing the config, fixing up MACs and
/// UUIDs), in simulated ms. Clones do it in parallel; only allocations queue on a storage.
pub const CLONE_FINISH_MS: SimMillis = 500;

/// How far behind the clock a read may see the world when no task event is due (simulated
/// ms): uptimes may lag this much, so readers need not queue behind a writer to move time.
pub const READ_STALE_MS: SimMillis = 1_000;

impl World {
    /// Start a task and return its UPID. Nothing runs until the next `advance_to`, which the
    /// server calls before answering, so a UPID is always returned before the work happens.
    pub fn spawn(
        &mut self,
        node: &str,
        task_type: &str,
        id: &str,
        user: &str,
        mut plan: Plan,
    ) -> Upid {
        self.next_pid = self.next_pid.wrapping_add(1 + (self.next_task_id as u32 % 7));
        let pstart = self.nodes.get(node).map_or(0x0100_0000, |n| n.pstart);
        let upid = Upid {
            node: crate::state::node_name(node),
            pid: self.next_pid,
            pstart,
            starttime: u32::try_from(self.now_secs()).unwrap_or(u32::MAX),
            task_type: task_type.to_string(),
            id: id.to_string(),
            user: user.to_string(),
        };
        if self.faults.task_fails(&mut self.rng, task_type) {
            // Fail just before the last step, after the visible work, like a real mid-task error.
            let at = plan.steps.len().saturating_sub(1);
            let msg = self
                .faults
                .task_failure_message
                .clone()
                .unwrap_or_else(|| "simulated task failure (fault injection)".into());
            plan.steps.insert(at, Step::Do(Box::new(move |_, _| Err(msg.clone()))));
        }
        let id = self.next_task_id;
        self.next_task_id += 1;
        self.tasks.push(Task {
            id,
            upid: upid.clone(),
            log: Vec::new(),
            state: TaskState::Running,
            steps: plan.steps,
            on_fail: plan.on_fail,
            wake_at: self.now,
            lock_deadline: None,
            warnings: 0,
        });
        upid
    }

    pub fn task_by_upid(&self, upid: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.upid.to_string() == upid)
    }

    /// Log a counted warning (`WARN: …`); the task then ends `WARNINGS: n`.
    pub fn task_warn(&mut self, task: u64, line: impl std::fmt::Display) {
        if let Some(t) = self.tasks.iter_mut().find(|t| t.id == task) {
            t.log.push(format!("WARN: {line}"));
            t.warnings += 1;
        }
    }

    /// Append to a task's log (used by actions).
    pub fn task_log(&mut self, task: u64, line: impl Into<String>) {
        if let Some(t) = self.tasks.iter_mut().find(|t| t.id == task) {
            t.log.push(line.into());
        }
    }

    /// Run every task event due up to `target`, in time order, then set the clock to `target`.
    pub fn advance_to(&mut self, target: SimMillis) {
        loop {
            let from = self.skip_stopped();
            let next = self
                .tasks
                .iter()
                .enumerate()
                .skip(from)
                .filter(|(_, t)| t.is_running() && t.wake_at <= target)
                .min_by_key(|(_, t)| (t.wake_at, t.id))
                .map(|(i, t)| (i, t.wake_at));
            // The HA manager's round runs before task events due at the same moment.
            if let Some(due) = self.ha_due.filter(|d| *d <= target)
                && next.is_none_or(|(_, at)| due <= at)
            {
                if due > self.now {
                    self.rrd_tick(due);
                    self.now = due;
                }
                crate::ha::round(self);
                continue;
            }
            let Some((i, at)) = next else { break };
            if at > self.now {
                self.rrd_tick(at);
                self.now = at;
            }
            self.run_task(i);
        }
        if target > self.now {
            self.rrd_tick(target);
            self.now = target;
        }
    }

    /// The time of the next pending task event or HA round, if any (manual mode: "step" to it).
    pub fn next_event(&self) -> Option<SimMillis> {
        self.running().map(|t| t.wake_at).chain(self.ha_due).min()
    }

    /// The running tasks.
    pub fn running(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().skip(self.scan_from).filter(|t| t.is_running())
    }

    /// Move `scan_from` past the tasks that have stopped; returns it.
    fn skip_stopped(&mut self) -> usize {
        while self.tasks.get(self.scan_from).is_some_and(|t| !t.is_running()) {
            self.scan_from += 1;
        }
        self.scan_from
    }

    /// Whether reading the world at `target` needs it brought forward first: a task event is
    /// due, or the clock it shows would be more than [`READ_STALE_MS`] behind.
    pub fn behind(&self, target: SimMillis) -> bool {
        target > self.now
            && (target - self.now > READ_STALE_MS
                || self.resources_lag
                || self.next_event().is_some_and(|e| e <= target))
    }

    fn run_task(&mut self, i: usize) {
        loop {
            let Some(task) = self.tasks.get_mut(i) else {
                return;
            };
            if task.wake_at > self.now || !task.is_running() {
                return;
            }
            let id = task.id;
            let Some(step) = task.steps.pop_front() else {
                let status = if task.warnings > 0 {
                    format!("WARNINGS: {}", task.warnings)
                } else {
                    "OK".into()
                };
                self.finish(i, status);
                return;
            };
            match step {
                Step::Log(l) => task.log.push(l),
                Step::Warn(l) => {
                    task.log.push(format!("WARN: {l}"));
                    task.warnings += 1;
                }
                Step::Sleep(ms) => {
                    task.wake_at = self.now + ms;
                    return;
                }
                Step::Lock { key, mode, timeout_ms, kind, prefix } => {
                    if self.locks.try_acquire(&key, mode, Owner::Task(id)) {
                        if let Some(t) = self.tasks.get_mut(i) {
                            t.lock_deadline = None;
                        }
                        continue;
                    }
                    let shared = matches!(&key, LockKey::Storage(s) if self.storages.get(s).is_some_and(|d| d.shared));
                    let now = self.now;
                    let Some(t) = self.tasks.get_mut(i) else {
                        return;
                    };
                    let deadline = match t.lock_deadline {
                        Some(d) => d,
                        None => {
                            t.log.push("trying to acquire lock...".into());
                            now + timeout_ms
                        }
                    };
                    if now >= deadline {
                        let msg = format!("{prefix}{}", timeout_message(&key, kind, shared));
                        self.fail(i, msg);
                        return;
                    }
                    t.lock_deadline = Some(deadline);
                    t.wake_at = deadline;
                    t.steps.push_front(Step::Lock { key, mode, timeout_ms, kind, prefix });
                    return;
                }
                Step::Unlock(key) => {
                    self.locks.release(&key, Owner::Task(id));
                    self.wake_lock_waiters();
                }
                Step::Do(f) => {
                    if let Err(e) = f(self, id) {
                        self.fail(i, e);
                        return;
                    }
                }
            }
        }
    }

    /// After a release, blocked tasks retry at once.
    pub fn wake_lock_waiters(&mut self) {
        let now = self.now;
        let from = self.scan_from;
        for t in
            self.tasks.iter_mut().skip(from).filter(|t| t.is_running() && t.lock_deadline.is_some())
        {
            t.wake_at = now;
        }
    }

    fn fail(&mut self, i: usize, msg: String) {
        let cleanups =
            self.tasks.get_mut(i).map(|t| std::mem::take(&mut t.on_fail)).unwrap_or_default();
        let id = self.tasks.get(i).map_or(0, |t| t.id);
        for c in cleanups {
            let _ = c(self, id);
        }
        self.finish(i, msg.replace('\n', " ").trim_end().to_string());
    }

    fn finish(&mut self, i: usize, exitstatus: String) {
        let now = self.now_secs();
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        let line = if exitstatus == "OK" || exitstatus.starts_with("WARNINGS: ") {
            format!("TASK {exitstatus}")
        } else {
            format!("TASK ERROR: {exitstatus}")
        };
        t.log.push(line);
        t.steps.clear();
        t.lock_deadline = None;
        t.state = TaskState::Stopped { exitstatus, endtime: now };
        let id = t.id;
        self.locks.release_all(Owner::Task(id));
        self.wake_lock_waiters();
    }

    /// `DELETE .../tasks/{upid}`: the worker gets SIGTERM.
    pub fn stop_task(&mut self, upid: &str) -> bool {
        let Some(i) = self.tasks.iter().position(|t| t.upid.to_string() == upid && t.is_running())
        else {
            return false;
        };
        self.fail(i, "received interrupt".into());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::World;

    fn world() -> World {
        World::new(1, 7, 1_767_225_600_000)
    }

    #[test]
    fn a_task_runs_its_steps_in_simulated_time_and_ends_ok() {
        let mut w = world();
        let upid = w.spawn(
            "pve",
            "qmstart",
            "100",
            "root@pam",
            Plan::new().log("starting").sleep(2000).log("done"),
        );
        let t0 = w.now;
        w.advance_to(t0 + 1000);
        assert!(w.task_by_upid(&upid.to_string()).unwrap().is_running());
        w.advance_to(t0 + 2000);
        let t = w.task_by_upid(&upid.to_string()).unwrap();
        assert_eq!(t.exitstatus(), Some("OK"));
        assert_eq!(t.log, ["starting", "done", "TASK OK"]);
    }

    #[test]
    fn a_lock_wait_times_out_with_pves_text() {
        let mut w = world();
        let key = LockKey::Config(proxctl_types::VmId::new(100).unwrap());
        assert!(w.locks.try_acquire(&key, LockMode::Exclusive, Owner::Control));
        let upid = w.spawn(
            "pve",
            "qmconfig",
            "100",
            "root@pam",
            Plan::new().lock(key, LockMode::Exclusive, 10_000, GuestKind::Qemu, ""),
        );
        let t0 = w.now;
        w.advance_to(t0 + 9_999);
        assert!(w.task_by_upid(&upid.to_string()).unwrap().is_running());
        w.advance_to(t0 + 10_000);
        let t = w.task_by_upid(&upid.to_string()).unwrap();
        assert_eq!(
            t.exitstatus(),
            Some("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
        );
        assert_eq!(t.log[0], "trying to acquire lock...");
    }

    #[test]
    fn a_waiting_task_gets_the_lock_when_the_holder_finishes() {
        let mut w = world();
        let key = LockKey::Config(proxctl_types::VmId::new(100).unwrap());
        let a = w.spawn(
            "pve",
            "a",
            "",
            "root@pam",
            Plan::new()
                .lock(key.clone(), LockMode::Exclusive, 1000, GuestKind::Qemu, "")
                .sleep(3000),
        );
        let b = w.spawn(
            "pve",
            "b",
            "",
            "root@pam",
            Plan::new().lock(key, LockMode::Exclusive, 10_000, GuestKind::Qemu, ""),
        );
        let t0 = w.now;
        w.advance_to(t0 + 3000);
        assert_eq!(w.task_by_upid(&a.to_string()).unwrap().exitstatus(), Some("OK"));
        assert_eq!(w.task_by_upid(&b.to_string()).unwrap().exitstatus(), Some("OK"));
    }

    #[test]
    fn a_failing_action_runs_cleanup_and_logs_task_error() {
        let mut w = world();
        let upid = w.spawn(
            "pve",
            "qmcreate",
            "100",
            "root@pam",
            Plan::new().act(|_, _| Err("unable to create VM 100 - no space".into())).on_fail(
                |w, _| {
                    w.quorate = false;
                    Ok(())
                },
            ),
        );
        w.advance_to(w.now);
        let t = w.task_by_upid(&upid.to_string()).unwrap();
        assert_eq!(t.log.last().unwrap(), "TASK ERROR: unable to create VM 100 - no space");
        assert!(!w.quorate, "cleanup ran");
    }
}
