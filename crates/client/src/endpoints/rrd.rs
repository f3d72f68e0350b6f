//! A guest's RRD series (`rrddata`): CPU, memory, network and disk over an hour, a day, a week,
//! a month or a year, as PVE's graphs show them.

use proxctl_types::messages::GuestKind;
use proxctl_types::wire::FormParams;
use proxctl_types::{NodeName, VmId};

use crate::{ApiRequest, Client, ClientError, Endpoint};

/// How far back the series reaches (PVE's `timeframe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Timeframe {
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Hour => "hour",
            Timeframe::Day => "day",
            Timeframe::Week => "week",
            Timeframe::Month => "month",
            Timeframe::Year => "year",
        }
    }
}

impl std::str::FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "hour" => Timeframe::Hour,
            "day" => Timeframe::Day,
            "week" => Timeframe::Week,
            "month" => Timeframe::Month,
            "year" => Timeframe::Year,
            other => {
                return Err(format!(
                    "timeframe must be hour, day, week, month or year, not '{other}'"
                ));
            }
        })
    }
}

/// The averaged series of one guest.
pub fn guest(kind: GuestKind, node: &NodeName, vmid: VmId, timeframe: Timeframe) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("timeframe", timeframe.as_str()).push("cf", "AVERAGE");
    let ep = if kind == GuestKind::Qemu { Endpoint::QemuRrddata } else { Endpoint::LxcRrddata };
    ApiRequest::new(ep, &[node.as_str(), &vmid.to_string()], p)
}

impl Client {
    /// One object per sample (`time`, `cpu`, `mem`, `maxmem`, `netin`, `netout`, `diskread`,
    /// `diskwrite`, ...); fields PVE has no value for are absent.
    pub async fn guest_rrddata(
        &self,
        kind: GuestKind,
        node: &NodeName,
        vmid: VmId,
        timeframe: Timeframe,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ClientError> {
        self.send_as(&guest(kind, node, vmid, timeframe)).await
    }
}
