//! Addresses from declared IP pools, chosen around what the state store already records.

use super::*;

/// Free addresses from declared pools, around what the store already records.
pub(super) struct Ipam<'a> {
    pub(super) taken: BTreeSet<(String, IpAddr)>,
    pub(super) allocations: &'a [IpAllocation],
}

impl<'a> Ipam<'a> {
    pub(super) fn new(allocations: &'a [IpAllocation]) -> Self {
        Self { taken: allocations.iter().map(|a| (a.pool.clone(), a.ip)).collect(), allocations }
    }

    /// The address `key` holds in `pool`, or the lowest free one. Returns (address, prefix
    /// length, is new).
    pub(super) fn address(
        &mut self,
        pool_name: &str,
        pool: &IpPoolSpec,
        key: &str,
    ) -> Result<(IpAddr, u8, bool), String> {
        let net: ipnet::IpNet =
            pool.cidr.parse().map_err(|_| format!("pool {pool_name}: bad cidr"))?;
        if let Some(a) =
            self.allocations.iter().find(|a| a.pool == pool_name && a.owner.to_string() == key)
        {
            return Ok((a.ip, net.prefix_len(), false));
        }
        let gw: Option<IpAddr> = pool.gateway.parse().ok();
        let range = pool
            .range
            .as_ref()
            .and_then(|r| Some((r.start.parse::<IpAddr>().ok()?, r.end.parse::<IpAddr>().ok()?)));
        for ip in net.hosts() {
            if Some(ip) == gw || self.taken.contains(&(pool_name.to_string(), ip)) {
                continue;
            }
            if let Some((s, e)) = range
                && (ip < s || ip > e)
            {
                continue;
            }
            self.taken.insert((pool_name.to_string(), ip));
            return Ok((ip, net.prefix_len(), true));
        }
        Err(format!("IPPool {pool_name} has no free address left"))
    }
}

/// IPPool resources: nothing to change in PVE; VMs draw their addresses from them.
pub(super) struct IpPools;

impl KindPlanner for IpPools {
    fn plan(&self, _: &mut Context<'_>, _: &Declared) -> Result<Option<Change>, String> {
        Ok(None)
    }
}
