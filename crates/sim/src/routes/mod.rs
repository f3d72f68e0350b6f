//! The PVE routes the simulator implements, as one table: method, path template, handler.

mod access;
mod agent;
mod backup_jobs;
pub mod cloudinit;
pub mod cluster;
pub mod common;
pub mod console;
pub mod firewall;
mod firewall_sets;
mod ha;
mod ha_rules;
mod lxc;
mod lxc_migrate;
mod network;
mod node_health;
mod notifications;
pub mod passwords;
pub mod pools;
mod prune;
pub mod qemu;
mod qemu_ops;
mod realms;
mod replication;
mod rrd;
mod sdn;
mod snapshot;
mod storage;
mod storage_cfg;
pub mod tasks;
pub mod users;

use proxctl_types::messages::GuestKind;

use crate::error::PveResult;
use crate::router::{Ctx, Handler, Reply, Route};
use crate::state::World;

macro_rules! route {
    (read $m:literal, $t:literal, $h:expr) => {
        Route { method: $m, template: $t, handler: Handler::Read($h), write: false }
    };
    ($m:literal, $t:literal, $h:expr) => {
        Route { method: $m, template: $t, handler: Handler::Write($h), write: $m != "GET" }
    };
}

fn q_snap_list(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::list(c, w, GuestKind::Qemu)
}
fn q_snap_create(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::create(c, w, GuestKind::Qemu)
}
fn q_snap_delete(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::delete(c, w, GuestKind::Qemu)
}
fn q_snap_rollback(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::rollback(c, w, GuestKind::Qemu)
}
fn c_snap_list(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::list(c, w, GuestKind::Lxc)
}
fn c_snap_create(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::create(c, w, GuestKind::Lxc)
}
fn c_snap_delete(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::delete(c, w, GuestKind::Lxc)
}
fn c_snap_rollback(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    snapshot::rollback(c, w, GuestKind::Lxc)
}
fn q_vnc(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    console::vncproxy(c, w, GuestKind::Qemu)
}
fn q_term(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    console::termproxy(c, w, GuestKind::Qemu)
}
fn c_vnc(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    console::vncproxy(c, w, GuestKind::Lxc)
}
fn c_term(c: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    console::termproxy(c, w, GuestKind::Lxc)
}

/// Every implemented route. Anything else is PVE's 501.
pub fn all() -> Vec<Route> {
    vec![
        Route {
            method: "POST",
            template: "/access/ticket",
            handler: Handler::Write(access::ticket_post),
            write: false,
        },
        route!("GET", "/access/ticket", access::ticket_get),
        route!("GET", "/access/domains", realms::list),
        route!("POST", "/access/domains", realms::create),
        route!("GET", "/access/domains/{realm}", realms::get),
        route!("PUT", "/access/domains/{realm}", realms::update),
        route!("DELETE", "/access/domains/{realm}", realms::delete),
        route!("GET", "/access/permissions", access::permissions),
        route!("PUT", "/access/password", passwords::change),
        route!(read "GET", "/version", cluster::version),
        route!(read "GET", "/nodes", cluster::nodes),
        route!("GET", "/nodes/{node}/status", cluster::node_status),
        route!("GET", "/nodes/{node}/time", cluster::node_time),
        route!("GET", "/nodes/{node}/network", network::list),
        route!("POST", "/nodes/{node}/network", network::create),
        route!("PUT", "/nodes/{node}/network", network::apply),
        route!("DELETE", "/nodes/{node}/network", network::revert),
        route!("GET", "/nodes/{node}/network/{iface}", network::get),
        route!("PUT", "/nodes/{node}/network/{iface}", network::update),
        route!("DELETE", "/nodes/{node}/network/{iface}", network::delete),
        route!("POST", "/nodes/{node}/termproxy", cluster::node_termproxy),
        route!(read "GET", "/nodes/{node}/subscription", node_health::subscription),
        route!(read "GET", "/nodes/{node}/rrddata", rrd::node_rrd),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/rrddata", rrd::qemu),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/rrddata", rrd::lxc),
        route!(read "GET", "/nodes/{node}/storage/{storage}/rrddata", rrd::storage),
        route!(read "GET", "/nodes/{node}/replication", node_health::replication),
        route!(read "GET", "/cluster/config/qdevice", node_health::qdevice),
        route!(read "GET", "/cluster/status", cluster::cluster_status),
        route!(read "GET", "/cluster/resources", cluster::cluster_resources),
        route!(read "GET", "/cluster/nextid", cluster::nextid),
        route!(read "GET", "/cluster/tasks", cluster::cluster_tasks),
        route!("GET", "/cluster/notifications", notifications::index),
        route!("GET", "/cluster/notifications/endpoints", notifications::endpoints_index),
        route!("GET", "/cluster/notifications/targets", notifications::targets),
        route!("POST", "/cluster/notifications/targets/{name}/test", notifications::test),
        route!("GET", "/cluster/notifications/matcher-fields", notifications::matcher_fields),
        route!(
            "GET",
            "/cluster/notifications/matcher-field-values",
            notifications::matcher_field_values
        ),
        route!("GET", "/cluster/notifications/matchers", notifications::list),
        route!("POST", "/cluster/notifications/matchers", notifications::create),
        route!("GET", "/cluster/notifications/matchers/{name}", notifications::get),
        route!("PUT", "/cluster/notifications/matchers/{name}", notifications::update),
        route!("DELETE", "/cluster/notifications/matchers/{name}", notifications::delete),
        route!("GET", "/cluster/notifications/endpoints/sendmail", notifications::list),
        route!("POST", "/cluster/notifications/endpoints/sendmail", notifications::create),
        route!("GET", "/cluster/notifications/endpoints/sendmail/{name}", notifications::get),
        route!("PUT", "/cluster/notifications/endpoints/sendmail/{name}", notifications::update),
        route!("DELETE", "/cluster/notifications/endpoints/sendmail/{name}", notifications::delete),
        route!("GET", "/cluster/notifications/endpoints/smtp", notifications::list),
        route!("POST", "/cluster/notifications/endpoints/smtp", notifications::create),
        route!("GET", "/cluster/notifications/endpoints/smtp/{name}", notifications::get),
        route!("PUT", "/cluster/notifications/endpoints/smtp/{name}", notifications::update),
        route!("DELETE", "/cluster/notifications/endpoints/smtp/{name}", notifications::delete),
        route!("GET", "/cluster/notifications/endpoints/gotify", notifications::list),
        route!("POST", "/cluster/notifications/endpoints/gotify", notifications::create),
        route!("GET", "/cluster/notifications/endpoints/gotify/{name}", notifications::get),
        route!("PUT", "/cluster/notifications/endpoints/gotify/{name}", notifications::update),
        route!("DELETE", "/cluster/notifications/endpoints/gotify/{name}", notifications::delete),
        route!("GET", "/cluster/notifications/endpoints/webhook", notifications::list),
        route!("POST", "/cluster/notifications/endpoints/webhook", notifications::create),
        route!("GET", "/cluster/notifications/endpoints/webhook/{name}", notifications::get),
        route!("PUT", "/cluster/notifications/endpoints/webhook/{name}", notifications::update),
        route!("DELETE", "/cluster/notifications/endpoints/webhook/{name}", notifications::delete),
        route!("GET", "/cluster/ha", ha::index),
        route!("GET", "/cluster/ha/status", ha::status_index),
        route!("GET", "/cluster/ha/status/current", ha::status_current),
        route!("GET", "/cluster/ha/status/manager_status", ha::manager_status),
        route!("POST", "/cluster/ha/status/disarm-ha", ha::disarm),
        route!("POST", "/cluster/ha/status/arm-ha", ha::arm),
        route!("GET", "/cluster/ha/resources", ha::resources),
        route!("POST", "/cluster/ha/resources", ha::resource_create),
        route!("GET", "/cluster/ha/resources/{sid}", ha::resource_get),
        route!("PUT", "/cluster/ha/resources/{sid}", ha::resource_update),
        route!("DELETE", "/cluster/ha/resources/{sid}", ha::resource_delete),
        route!("POST", "/cluster/ha/resources/{sid}/migrate", ha::resource_move),
        route!("POST", "/cluster/ha/resources/{sid}/relocate", ha::resource_move),
        route!("GET", "/cluster/ha/rules", ha_rules::rules),
        route!("POST", "/cluster/ha/rules", ha_rules::rule_create),
        route!("GET", "/cluster/ha/rules/{rule}", ha_rules::rule),
        route!("PUT", "/cluster/ha/rules/{rule}", ha_rules::rule_update),
        route!("DELETE", "/cluster/ha/rules/{rule}", ha_rules::rule_delete),
        route!("GET", "/cluster/ha/groups", ha_rules::groups),
        route!("POST", "/cluster/ha/groups", ha_rules::group_create),
        route!("GET", "/cluster/ha/groups/{group}", ha_rules::group),
        route!("PUT", "/cluster/ha/groups/{group}", ha_rules::group_update),
        route!("DELETE", "/cluster/ha/groups/{group}", ha_rules::group_delete),
        route!(read "GET", "/access/users", users::users),
        route!("POST", "/access/users", users::user_create),
        route!(read "GET", "/access/users/{userid}", users::user),
        route!("PUT", "/access/users/{userid}", users::user_update),
        route!("DELETE", "/access/users/{userid}", users::user_delete),
        route!(read "GET", "/access/users/{userid}/token", users::tokens),
        route!(read "GET", "/access/users/{userid}/token/{tokenid}", users::token),
        route!("POST", "/access/users/{userid}/token/{tokenid}", users::token_create),
        route!("PUT", "/access/users/{userid}/token/{tokenid}", users::token_update),
        route!("DELETE", "/access/users/{userid}/token/{tokenid}", users::token_delete),
        route!(read "GET", "/access/groups", users::groups),
        route!("POST", "/access/groups", users::group_create),
        route!(read "GET", "/access/groups/{groupid}", users::group),
        route!("PUT", "/access/groups/{groupid}", users::group_update),
        route!("DELETE", "/access/groups/{groupid}", users::group_delete),
        route!(read "GET", "/access/roles", users::roles),
        route!("POST", "/access/roles", users::role_create),
        route!(read "GET", "/access/roles/{roleid}", users::role),
        route!("PUT", "/access/roles/{roleid}", users::role_update),
        route!("DELETE", "/access/roles/{roleid}", users::role_delete),
        route!(read "GET", "/access/acl", users::acl),
        route!("PUT", "/access/acl", users::acl_update),
        route!(read "GET", "/cluster/firewall/rules", firewall::rules),
        route!("POST", "/cluster/firewall/rules", firewall::rule_create),
        route!(read "GET", "/cluster/firewall/rules/{pos}", firewall::rule),
        route!("PUT", "/cluster/firewall/rules/{pos}", firewall::rule_update),
        route!("DELETE", "/cluster/firewall/rules/{pos}", firewall::rule_delete),
        route!(read "GET", "/cluster/firewall/options", firewall::options),
        route!(read "GET", "/cluster/sdn/vnets/{vnet}/firewall/rules", firewall::rules),
        route!("POST", "/cluster/sdn/vnets/{vnet}/firewall/rules", firewall::rule_create),
        route!(read "GET", "/cluster/sdn/vnets/{vnet}/firewall/rules/{pos}", firewall::rule),
        route!("PUT", "/cluster/sdn/vnets/{vnet}/firewall/rules/{pos}", firewall::rule_update),
        route!("DELETE", "/cluster/sdn/vnets/{vnet}/firewall/rules/{pos}", firewall::rule_delete),
        route!(read "GET", "/cluster/sdn/vnets/{vnet}/firewall/options", firewall::options),
        route!("PUT", "/cluster/sdn/vnets/{vnet}/firewall/options", firewall::options_update),
        route!("PUT", "/cluster/firewall/options", firewall::options_update),
        route!(read "GET", "/cluster/firewall/aliases", firewall::aliases),
        route!("POST", "/cluster/firewall/aliases", firewall::alias_create),
        route!(read "GET", "/cluster/firewall/aliases/{name}", firewall::alias),
        route!("PUT", "/cluster/firewall/aliases/{name}", firewall::alias_update),
        route!("DELETE", "/cluster/firewall/aliases/{name}", firewall::alias_delete),
        route!(read "GET", "/nodes/{node}/firewall/rules", firewall::rules),
        route!("POST", "/nodes/{node}/firewall/rules", firewall::rule_create),
        route!(read "GET", "/nodes/{node}/firewall/rules/{pos}", firewall::rule),
        route!("PUT", "/nodes/{node}/firewall/rules/{pos}", firewall::rule_update),
        route!("DELETE", "/nodes/{node}/firewall/rules/{pos}", firewall::rule_delete),
        route!(read "GET", "/nodes/{node}/firewall/options", firewall::options),
        route!("PUT", "/nodes/{node}/firewall/options", firewall::options_update),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/rules", firewall::rules),
        route!("POST", "/nodes/{node}/qemu/{vmid}/firewall/rules", firewall::rule_create),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/rules/{pos}", firewall::rule),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/firewall/rules/{pos}", firewall::rule_update),
        route!("DELETE", "/nodes/{node}/qemu/{vmid}/firewall/rules/{pos}", firewall::rule_delete),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/options", firewall::options),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/firewall/options", firewall::options_update),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/aliases", firewall::aliases),
        route!("POST", "/nodes/{node}/qemu/{vmid}/firewall/aliases", firewall::alias_create),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/aliases/{name}", firewall::alias),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/firewall/aliases/{name}", firewall::alias_update),
        route!(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}/firewall/aliases/{name}",
            firewall::alias_delete
        ),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/rules", firewall::rules),
        route!("POST", "/nodes/{node}/lxc/{vmid}/firewall/rules", firewall::rule_create),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", firewall::rule),
        route!("PUT", "/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", firewall::rule_update),
        route!("DELETE", "/nodes/{node}/lxc/{vmid}/firewall/rules/{pos}", firewall::rule_delete),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/options", firewall::options),
        route!("PUT", "/nodes/{node}/lxc/{vmid}/firewall/options", firewall::options_update),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/aliases", firewall::aliases),
        route!("POST", "/nodes/{node}/lxc/{vmid}/firewall/aliases", firewall::alias_create),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/aliases/{name}", firewall::alias),
        route!("PUT", "/nodes/{node}/lxc/{vmid}/firewall/aliases/{name}", firewall::alias_update),
        route!(
            "DELETE",
            "/nodes/{node}/lxc/{vmid}/firewall/aliases/{name}",
            firewall::alias_delete
        ),
        route!(read "GET", "/cluster/firewall/groups", firewall_sets::groups),
        route!("POST", "/cluster/firewall/groups", firewall_sets::group_create),
        route!(read "GET", "/cluster/firewall/groups/{group}", firewall::rules),
        route!("POST", "/cluster/firewall/groups/{group}", firewall::rule_create),
        route!("DELETE", "/cluster/firewall/groups/{group}", firewall_sets::group_delete),
        route!(read "GET", "/cluster/firewall/groups/{group}/{pos}", firewall::rule),
        route!("PUT", "/cluster/firewall/groups/{group}/{pos}", firewall::rule_update),
        route!("DELETE", "/cluster/firewall/groups/{group}/{pos}", firewall::rule_delete),
        route!(read "GET", "/cluster/firewall/ipset", firewall_sets::ipsets),
        route!("POST", "/cluster/firewall/ipset", firewall_sets::ipset_create),
        route!(read "GET", "/cluster/firewall/ipset/{name}", firewall_sets::ipset),
        route!("POST", "/cluster/firewall/ipset/{name}", firewall_sets::cidr_add),
        route!("DELETE", "/cluster/firewall/ipset/{name}", firewall_sets::ipset_delete),
        route!(read "GET", "/cluster/firewall/ipset/{name}/{cidr}", firewall_sets::cidr),
        route!("PUT", "/cluster/firewall/ipset/{name}/{cidr}", firewall_sets::cidr_update),
        route!("DELETE", "/cluster/firewall/ipset/{name}/{cidr}", firewall_sets::cidr_delete),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/ipset", firewall_sets::ipsets),
        route!("POST", "/nodes/{node}/qemu/{vmid}/firewall/ipset", firewall_sets::ipset_create),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}", firewall_sets::ipset),
        route!("POST", "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}", firewall_sets::cidr_add),
        route!(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}",
            firewall_sets::ipset_delete
        ),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}/{cidr}", firewall_sets::cidr),
        route!(
            "PUT",
            "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}/{cidr}",
            firewall_sets::cidr_update
        ),
        route!(
            "DELETE",
            "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}/{cidr}",
            firewall_sets::cidr_delete
        ),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/ipset", firewall_sets::ipsets),
        route!("POST", "/nodes/{node}/lxc/{vmid}/firewall/ipset", firewall_sets::ipset_create),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}", firewall_sets::ipset),
        route!("POST", "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}", firewall_sets::cidr_add),
        route!(
            "DELETE",
            "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}",
            firewall_sets::ipset_delete
        ),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}/{cidr}", firewall_sets::cidr),
        route!(
            "PUT",
            "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}/{cidr}",
            firewall_sets::cidr_update
        ),
        route!(
            "DELETE",
            "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}/{cidr}",
            firewall_sets::cidr_delete
        ),
        route!(read "GET", "/storage", storage_cfg::list),
        route!("POST", "/storage", storage_cfg::create),
        route!(read "GET", "/storage/{storage}", storage_cfg::get),
        route!("PUT", "/storage/{storage}", storage_cfg::update),
        route!("DELETE", "/storage/{storage}", storage_cfg::delete),
        route!(read "GET", "/cluster/replication", replication::list),
        route!("POST", "/cluster/replication", replication::create),
        route!(read "GET", "/cluster/replication/{id}", replication::get),
        route!("PUT", "/cluster/replication/{id}", replication::update),
        route!("DELETE", "/cluster/replication/{id}", replication::delete),
        route!(read "GET", "/pools", pools::list),
        route!("POST", "/pools", pools::create),
        route!("PUT", "/pools", pools::update),
        route!("DELETE", "/pools", pools::delete),
        route!(read "GET", "/pools/{poolid}", pools::get),
        route!("PUT", "/pools/{poolid}", pools::update),
        route!("DELETE", "/pools/{poolid}", pools::delete),
        route!(read "GET", "/cluster/backup", backup_jobs::list),
        route!("POST", "/cluster/backup", backup_jobs::create),
        route!(read "GET", "/cluster/backup/{id}", backup_jobs::get),
        route!("PUT", "/cluster/backup/{id}", backup_jobs::update),
        route!("DELETE", "/cluster/backup/{id}", backup_jobs::delete),
        route!(read "GET", "/cluster/backup-info", backup_jobs::info_index),
        route!(read "GET", "/cluster/backup-info/not-backed-up", backup_jobs::not_backed_up),
        route!("GET", "/cluster/sdn/zones", sdn::zones),
        route!("POST", "/cluster/sdn/zones", sdn::zone_create),
        route!("GET", "/cluster/sdn/zones/{zone}", sdn::zone),
        route!("PUT", "/cluster/sdn/zones/{zone}", sdn::zone_update),
        route!("DELETE", "/cluster/sdn/zones/{zone}", sdn::zone_delete),
        route!("GET", "/cluster/sdn/vnets", sdn::vnets),
        route!("POST", "/cluster/sdn/vnets", sdn::vnet_create),
        route!("GET", "/cluster/sdn/vnets/{vnet}", sdn::vnet),
        route!("PUT", "/cluster/sdn/vnets/{vnet}", sdn::vnet_update),
        route!("DELETE", "/cluster/sdn/vnets/{vnet}", sdn::vnet_delete),
        route!("GET", "/cluster/sdn/vnets/{vnet}/subnets", sdn::subnets),
        route!("POST", "/cluster/sdn/vnets/{vnet}/subnets", sdn::subnet_create),
        route!("GET", "/cluster/sdn/vnets/{vnet}/subnets/{subnet}", sdn::subnet),
        route!("PUT", "/cluster/sdn/vnets/{vnet}/subnets/{subnet}", sdn::subnet_update),
        route!("DELETE", "/cluster/sdn/vnets/{vnet}/subnets/{subnet}", sdn::subnet_delete),
        route!("PUT", "/cluster/sdn", sdn::apply),
        route!("POST", "/cluster/sdn/rollback", sdn::rollback),
        route!("POST", "/cluster/sdn/lock", sdn::lock),
        route!("DELETE", "/cluster/sdn/lock", sdn::unlock),
        route!(read "GET", "/nodes/{node}/qemu", qemu::list),
        route!("POST", "/nodes/{node}/qemu", qemu::create),
        route!("DELETE", "/nodes/{node}/qemu/{vmid}", qemu_ops::destroy),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/config", qemu::config_get),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/config", qemu::config_put),
        route!("POST", "/nodes/{node}/qemu/{vmid}/config", qemu::config_post),
        route!("GET", "/nodes/{node}/qemu/{vmid}/pending", qemu::pending),
        route!(read "GET", "/nodes/{node}/qemu/{vmid}/status/current", qemu::status_current),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/start", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/stop", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/reboot", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/reset", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/suspend", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/status/resume", qemu::power),
        route!("POST", "/nodes/{node}/qemu/{vmid}/clone", qemu_ops::clone),
        route!("POST", "/nodes/{node}/qemu/{vmid}/template", qemu_ops::template),
        route!("PUT", "/nodes/{node}/qemu/{vmid}/resize", qemu_ops::resize),
        route!("POST", "/nodes/{node}/qemu/{vmid}/migrate", qemu_ops::migrate),
        route!("GET", "/nodes/{node}/qemu/{vmid}/migrate", qemu_ops::migrate_preconditions),
        route!("GET", "/nodes/{node}/qemu/{vmid}/snapshot", q_snap_list),
        route!("POST", "/nodes/{node}/qemu/{vmid}/snapshot", q_snap_create),
        route!("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}", q_snap_delete),
        route!("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback", q_snap_rollback),
        route!("GET", "/nodes/{node}/qemu/{vmid}/cloudinit/dump", cloudinit::dump),
        route!("POST", "/nodes/{node}/qemu/{vmid}/agent/ping", agent::ping),
        route!("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces", agent::network),
        route!("POST", "/nodes/{node}/qemu/{vmid}/agent/exec", agent::exec),
        route!("GET", "/nodes/{node}/qemu/{vmid}/agent/exec-status", agent::exec_status),
        route!("POST", "/nodes/{node}/qemu/{vmid}/vncproxy", q_vnc),
        route!("POST", "/nodes/{node}/qemu/{vmid}/termproxy", q_term),
        route!("POST", "/nodes/{node}/qemu/{vmid}/spiceproxy", console::spiceproxy),
        route!(read "GET", "/nodes/{node}/lxc", lxc::list),
        route!("POST", "/nodes/{node}/lxc", lxc::create),
        route!("DELETE", "/nodes/{node}/lxc/{vmid}", lxc::destroy),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/config", lxc::config_get),
        route!("PUT", "/nodes/{node}/lxc/{vmid}/config", lxc::config_put),
        route!(read "GET", "/nodes/{node}/lxc/{vmid}/status/current", lxc::status_current),
        route!("POST", "/nodes/{node}/lxc/{vmid}/status/start", lxc::power),
        route!("POST", "/nodes/{node}/lxc/{vmid}/status/stop", lxc::power),
        route!("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown", lxc::power),
        route!("POST", "/nodes/{node}/lxc/{vmid}/status/reboot", lxc::power),
        route!("POST", "/nodes/{node}/lxc/{vmid}/status/suspend", lxc::power),
        route!("POST", "/nodes/{node}/lxc/{vmid}/status/resume", lxc::power),
        route!("GET", "/nodes/{node}/lxc/{vmid}/snapshot", c_snap_list),
        route!("POST", "/nodes/{node}/lxc/{vmid}/snapshot", c_snap_create),
        route!("DELETE", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}", c_snap_delete),
        route!("POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback", c_snap_rollback),
        route!("POST", "/nodes/{node}/lxc/{vmid}/vncproxy", c_vnc),
        route!("POST", "/nodes/{node}/lxc/{vmid}/termproxy", c_term),
        route!("POST", "/nodes/{node}/lxc/{vmid}/clone", lxc::clone),
        route!("PUT", "/nodes/{node}/lxc/{vmid}/resize", lxc::resize),
        route!("POST", "/nodes/{node}/lxc/{vmid}/migrate", lxc_migrate::migrate),
        route!(read "GET", "/nodes/{node}/storage", storage::list),
        route!("GET", "/nodes/{node}/storage/{storage}/status", storage::status),
        route!(read "GET", "/nodes/{node}/storage/{storage}/content", storage::content),
        route!("GET", "/nodes/{node}/storage/{storage}/content/{volume}", storage::content_get),
        route!("PUT", "/nodes/{node}/storage/{storage}/content/{volume}", storage::content_update),
        route!(
            "DELETE",
            "/nodes/{node}/storage/{storage}/content/{volume}",
            storage::content_delete
        ),
        route!("POST", "/nodes/{node}/storage/{storage}/upload", storage::upload),
        route!("POST", "/nodes/{node}/storage/{storage}/download-url", storage::download_url),
        route!("POST", "/nodes/{node}/vzdump", storage::vzdump),
        route!("GET", "/nodes/{node}/storage/{storage}/prunebackups", prune::dry_run),
        route!("DELETE", "/nodes/{node}/storage/{storage}/prunebackups", prune::prune),
        route!(read "GET", "/nodes/{node}/tasks", tasks::list),
        route!(read "GET", "/nodes/{node}/tasks/{upid}/status", tasks::status),
        route!(read "GET", "/nodes/{node}/tasks/{upid}/log", tasks::log),
        route!("DELETE", "/nodes/{node}/tasks/{upid}", tasks::stop),
    ]
}
