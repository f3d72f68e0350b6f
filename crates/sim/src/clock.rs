//! Simulated time. In `Realtime` mode it runs at `time_scale` times wall-clock speed; in
//! `Manual` mode it moves only when a test (or `/_sim/advance`) moves it, so tests never sleep.

use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    Realtime,
    Manual,
}

/// Milliseconds since the Unix epoch, in simulated time.
pub type SimMillis = u64;

#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    scale: f64,
    origin_wall: Instant,
    origin_sim: SimMillis,
}

impl Clock {
    pub fn new(mode: ClockMode, scale: f64, start: SimMillis) -> Self {
        Self {
            mode,
            scale: if scale > 0.0 { scale } else { 1.0 },
            origin_wall: Instant::now(),
            origin_sim: start,
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Where simulated time should be now; in manual mode, `None` (time is not wall-driven).
    pub fn target(&self) -> Option<SimMillis> {
        match self.mode {
            ClockMode::Manual => None,
            ClockMode::Realtime => {
                let ms = self.origin_wall.elapsed().as_secs_f64() * 1000.0 * self.scale;
                Some(self.origin_sim + ms as u64)
            }
        }
    }

    /// Real time corresponding to `sim_ms` of simulated time.
    pub fn real_duration(&self, sim_ms: u64) -> std::time::Duration {
        std::time::Duration::from_secs_f64(sim_ms as f64 / 1000.0 / self.scale)
    }
}
