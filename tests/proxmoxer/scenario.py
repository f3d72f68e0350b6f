"""A proxmoxer session against `proxctl sim`, written as it would be against a real PVE.

Reads PROXCTL_SIM_HOST, PROXCTL_SIM_PORT, PROXCTL_SIM_PASSWORD, PROXCTL_SIM_TOKEN
(user@realm!id=secret) and PROXCTL_SIM_CA (the CA the simulator wrote with --ca-out: TLS is
verified against it, as it would be against a real cluster's CA, not turned off). Exits
non-zero on the first surprise.
"""

import os
import sys
import time
import urllib.parse

import requests

from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

HOST = os.environ["PROXCTL_SIM_HOST"]
PORT = int(os.environ["PROXCTL_SIM_PORT"])
PASSWORD = os.environ["PROXCTL_SIM_PASSWORD"]
TOKEN = os.environ["PROXCTL_SIM_TOKEN"]
CA = os.environ["PROXCTL_SIM_CA"]


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def wait(prox, upid):
    status = Tasks.blocking_status(prox, upid, timeout=60, polling_interval=0.05)
    check(status is not None and status["exitstatus"] == "OK", f"task {upid.split(':')[5]} ended OK ({status})")


# Password login (ticket + CSRF) and token login.
pw = ProxmoxAPI(HOST, port=PORT, user="root@pam", password=PASSWORD, verify_ssl=CA)
check(pw.version.get()["version"].startswith("9."), "password login and GET /version")
token_id, secret = TOKEN.rsplit("=", 1)
user, token_name = token_id.split("!")
tk = ProxmoxAPI(HOST, port=PORT, user=user, token_name=token_name, token_value=secret, verify_ssl=CA)
nodes = tk.nodes.get()
# The CA is what made that work: with the system's roots only, verification refuses.
untrusted = ProxmoxAPI(HOST, port=PORT, user=user, token_name=token_name, token_value=secret, verify_ssl=True)
try:
    untrusted.version.get()
    refused = False
except requests.exceptions.SSLError:
    refused = True
check(refused, "without the simulator's CA, TLS verification refuses its certificate")
check(len(nodes) >= 1 and nodes[0]["ssl_fingerprint"], "token login and GET /nodes")
node = nodes[0]["node"]
n = pw.nodes(node)

# Create a VM from the simulator's stock cloud image, then convert it to a template.
upid = n.qemu.post(
    vmid=9000,
    name="pmx-template",
    memory=1024,
    cores=1,
    scsihw="virtio-scsi-single",
    scsi0="local-lvm:0,import-from=local:import/debian-12-genericcloud-amd64.qcow2",
    ide2="local-lvm:cloudinit",
    net0="virtio,bridge=vmbr0",
    serial0="socket",
    agent="1",
)
wait(pw, upid)
wait(pw, n.qemu(9000).template.post())
check(n.qemu(9000).config.get()["template"] == 1, "template flag is the number 1")

# Clone it.
newid = int(pw.cluster.nextid.get())
wait(pw, n.qemu(9000).clone.post(newid=newid, name="pmx-clone"))
vm = n.qemu(newid)
check(vm.config.get()["name"] == "pmx-clone", "clone has its name")

# Cloud-init through PUT config; sshkeys must be percent-encoded by the caller.
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIProxmoxer+Key/= tester@ci"
vm.config.put(ciuser="tester", sshkeys=urllib.parse.quote(key, safe=""), ipconfig0="ip=10.0.0.77/24,gw=10.0.0.1")
cfg = vm.config.get()
check(cfg["ciuser"] == "tester" and cfg["ipconfig0"] == "ip=10.0.0.77/24,gw=10.0.0.1", "cloud-init keys stored")
check(urllib.parse.unquote(cfg["sshkeys"]) == key, "sshkeys round-trip")
dump = vm.cloudinit.dump.get(type="user")
check("  - " + key in dump, "cloud-init user-data carries the key")

# Start.
wait(pw, vm.status.start.post())
check(vm.status.current.get()["status"] == "running", "VM is running")

# Snapshots: create, list, rollback, delete.
wait(pw, vm.snapshot.post(snapname="pmx-snap", description="from proxmoxer"))
snaps = vm.snapshot.get()
check([s["name"] for s in snaps][-1] == "current" and any(s["name"] == "pmx-snap" for s in snaps), "snapshot listed before current")
wait(pw, vm.snapshot("pmx-snap").rollback.post())
wait(pw, vm.snapshot("pmx-snap").delete())
check(all(s["name"] != "pmx-snap" for s in vm.snapshot.get()), "snapshot deleted")

# Resize: '+' must survive form encoding.
wait(pw, vm.resize.put(disk="scsi0", size="+1G"))
check("size=3G" in vm.config.get()["scsi0"], "disk grew by 1G")

# An unknown parameter gets PVE's 400 with an errors map.
try:
    vm.config.put(colour="red")
    check(False, "unknown parameter rejected")
except ResourceException as e:
    check(e.status_code == 400 and "colour" in str(e.errors), f"unknown parameter gets 400 ({e})")

# Back up, protect, restore to a new VMID, and see that a protected backup cannot be deleted.
wait(pw, n.vzdump.post(vmid=newid, storage="local", mode="snapshot", compress="zstd", protected=1))
backups = [c for c in n.storage("local").content.get(content="backup") if c.get("vmid") == newid]
check(len(backups) == 1 and backups[0].get("protected") == 1, "vzdump made one protected backup")
volid = backups[0]["volid"]
# As on PVE, the refusal is a failed imgdel task, not an HTTP error.
st = Tasks.blocking_status(pw, n.storage("local").content(volid).delete(), timeout=60, polling_interval=0.05)
check(st is not None and "cannot remove protected archive" in st["exitstatus"], f"protected backup refuses deletion ({st})")
restored = int(pw.cluster.nextid.get())
wait(pw, n.qemu.post(vmid=restored, archive=volid, storage="local-lvm", unique=1))
rcfg = n.qemu(restored).config.get()
check(rcfg["name"] == vm.config.get()["name"] and f"vm-{restored}-disk-0" in rcfg["scsi0"], "restore recreates the VM with new disks")
check(rcfg["net0"] != vm.config.get()["net0"], "restore with unique=1 gives a new MAC")
wait(pw, n.qemu(restored).delete())
n.storage("local").content(volid).put(protected=0)
wait(pw, n.storage("local").content(volid).delete())
check(not any(c["volid"] == volid for c in n.storage("local").content.get(content="backup")), "unprotected backup deleted")

# HA: a shutdown of an HA-managed VM only asks the HA manager (an hastop task); the manager
# stops the VM on its next round, which a client sees in the HA status.
sid = f"vm:{newid}"
pw.cluster.ha.resources.post(sid=sid, state="started")
upid = vm.status.shutdown.post()
check(":hastop:" in upid, "a shutdown of an HA-managed VM is an hastop request")
wait(pw, upid)
state = None
deadline = time.time() + 30
while time.time() < deadline:
    svc = [e for e in pw.cluster.ha.status.current.get() if e.get("sid") == sid]
    state = svc[0]["state"] if svc else None
    if state == "stopped":
        break
    time.sleep(0.05)
check(state == "stopped" and vm.status.current.get()["status"] == "stopped", f"the HA manager stopped it ({state})")
pw.cluster.ha.resources(sid).delete()

# Delete (stop first, as PVE requires).
wait(pw, vm.status.stop.post())
wait(pw, vm.delete())
try:
    vm.config.get()
    check(False, "deleted VM is gone")
except ResourceException as e:
    check(e.status_code == 500 and "does not exist" in str(e), "deleted VM is gone")

print("proxmoxer scenario passed")
