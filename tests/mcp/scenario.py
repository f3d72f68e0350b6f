"""The official MCP Python SDK against proxctl's MCP server: stdio (`proxctl mcp`, read-only,
then operate) and streamable HTTP (`/mcp` on `proxctl serve`, with tokens of several roles).

Run by crates/cli/tests/mcp.rs, which starts the simulator and the server and passes:
PROXCTL_BIN, the PVE settings (PROXCTL_URL, PROXCTL_TOKEN, PROXCTL_FINGERPRINT), PROXCTL_STATE,
MCP_URL and the tokens ADMIN_TOKEN, OPERATOR_TOKEN, SCOPED_TOKEN, PERSON_TOKEN.
"""

import asyncio
import json
import os
import subprocess
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

ME = Implementation(name="proxctl-test", version="1.0")
BIN = os.environ["PROXCTL_BIN"]
ENV = {k: v for k, v in os.environ.items() if k.startswith("PROXCTL_") or k in ("HOME", "PATH")}

EXPECTED_TOOLS = {
    "list_guests", "get_guest", "list_nodes", "list_storage", "cluster_status", "list_tasks",
    "task_log", "list_snapshots", "list_backups", "backup_coverage", "list_templates",
    "guest_metrics", "plan", "drift", "audit_search", "doctor", "attention", "operation_status",
    "start", "shutdown", "reboot", "snapshot_create", "backup_create", "set_tags",
    "clone_from_template", "propose_change", "apply_change", "get_change",
}


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


async def call(client, name, args=None):
    r = await client.call_tool(name, args or {})
    text = "".join(getattr(c, "text", "") for c in r.content)
    return r.is_error, (r.structured_content or {}), text


def stdio(mode):
    return StdioServerParameters(command=BIN, args=["mcp", "--mode", mode], env=ENV)


def approve(change_id):
    out = subprocess.run([BIN, "mcp", "approve", change_id, "--yes"], env=ENV,
                         capture_output=True, text=True)
    check(out.returncode == 0, f"proxctl mcp approve: {out.stderr}")


async def read_only():
    async with Client(stdio("read-only"), client_info=ME) as c:
        tools = (await c.list_tools()).tools
        names = {t.name for t in tools}
        check(EXPECTED_TOOLS <= names, f"tools: missing {EXPECTED_TOOLS - names}")
        for t in tools:
            check(t.input_schema.get("type") == "object", f"{t.name}: schema {t.input_schema}")
            check(t.description and len(t.description) > 30, f"{t.name}: no description")
        lg = next(t for t in tools if t.name == "list_guests")
        check("selector" in lg.input_schema["properties"], "list_guests takes a selector")
        snap = next(t for t in tools if t.name == "snapshot_create")
        check("ttl" in snap.input_schema.get("required", []), f"ttl required: {snap.input_schema}")

        err, out, text = await call(c, "list_guests")
        check(not err and out["total"] == 4, f"list_guests: {text}")
        err, out, text = await call(c, "list_guests", {"selector": "web"})
        check(not err and [g["vmid"] for g in out["items"]] == [100, 101], f"by tag: {text}")
        err, out, text = await call(c, "get_guest", {"guest": "web-1"})
        check(not err and out["guest"]["vmid"] == 100, f"get_guest: {text}")
        err, out, text = await call(c, "list_nodes")
        check(not err and out["nodes"], f"list_nodes: {text}")
        err, out, text = await call(c, "guest_metrics", {"guest": "100", "timeframe": "hour"})
        check(not err and out["points"], f"guest_metrics: {text}")
        # Read-only: an operate tool is refused, saying why and how to enable it.
        err, out, text = await call(c, "start", {"guest": "scratch-1"})
        check(err and "read-only" in text and "--mode operate" in text, f"start: {text}")
        err, out, text = await call(c, "propose_change",
                                    {"change": {"action": "guests", "operation": "delete",
                                                "selector": "id:103"}})
        check(err and "read-only" in text, f"propose in read-only: {text}")
        res = await c.read_resource("proxctl://selectors")
        check("id:100-199" in res.contents[0].text, "selector resource")
        res = await c.read_resource("proxctl://manifests/schema.json")
        check(json.loads(res.contents[0].text), "manifest schema resource")
        prompts = {p.name for p in (await c.list_prompts()).prompts}
        check({"investigate_failed_task", "plan_rolling_reboot", "check_backup_health"} <= prompts,
              f"prompts: {prompts}")
        p = await c.get_prompt("plan_rolling_reboot", {"selector": "web"})
        check("`web`" in p.messages[0].content.text, "prompt text")
    print("stdio read-only: ok")


async def operate():
    async with Client(stdio("operate"), client_info=ME) as c:
        err, out, text = await call(c, "start", {"guest": "scratch-1"})
        check(not err and out["ok"] == 1, f"start: {text}")
        # Several guests: the list first, then the same call with the confirmation id.
        err, out, text = await call(c, "snapshot_create",
                                    {"selector": "web", "name": "preupgrade", "ttl": "1d"})
        check(not err and out.get("confirmation_required") and len(out["guests"]) == 2,
              f"confirmation asked: {text}")
        err, out, text = await call(c, "snapshot_create",
                                    {"selector": "web", "name": "preupgrade", "ttl": "1d",
                                     "confirmation": out["confirmation"]})
        check(not err and out["ok"] == 2, f"snapshot: {text}")
        err, out, text = await call(c, "list_snapshots", {"guest": "web-2"})
        check(not err and any(s["name"] == "preupgrade" for s in out["snapshots"]), text)
        err, out, text = await call(c, "snapshot_create", {"guest": "web-1", "name": "x"})
        check(err and "ttl" in text, f"a snapshot without a TTL is refused: {text}")

        # A change set: propose, refused until approved, approved by a person, applied.
        err, ch, text = await call(c, "propose_change",
                                   {"change": {"action": "guests", "operation": "delete",
                                               "selector": "id:103"},
                                    "reason": "scratch VM no longer needed"})
        check(not err and ch["status"] == "proposed" and "103" in ch["plan"], f"propose: {text}")
        err, out, text = await call(c, "apply_change", {"id": ch["id"], "digest": ch["digest"]})
        check(err and "not approved" in text, f"unapproved apply: {text}")
        approve(ch["id"])
        err, out, text = await call(c, "apply_change", {"id": ch["id"], "digest": "0" * 64})
        check(err and "digest does not match" in text, f"wrong digest: {text}")
        err, out, text = await call(c, "apply_change", {"id": ch["id"], "digest": ch["digest"]})
        check(not err and out["status"] == "applied", f"apply: {text}")
        err, out, text = await call(c, "list_guests")
        check(103 not in [g["vmid"] for g in out["items"]], f"103 deleted: {text}")
        err, out, text = await call(c, "apply_change", {"id": ch["id"], "digest": ch["digest"]})
        check(err and "already been applied" in text, f"applied twice: {text}")

        # Stale: the VM changes between the approval and the apply.
        err, ch, text = await call(c, "propose_change",
                                   {"change": {"action": "guests", "operation": "delete",
                                               "selector": "id:102"}})
        check(not err, f"propose: {text}")
        approve(ch["id"])
        err, out, text = await call(c, "set_tags", {"guest": "db-1", "add": ["changed"]})
        check(not err, f"set_tags: {text}")
        err, out, text = await call(c, "apply_change", {"id": ch["id"], "digest": ch["digest"]})
        check(err and "stale" in text and "102" in text, f"stale apply refused: {text}")
        err, out, text = await call(c, "list_guests", {"selector": "id:102"})
        check(out["total"] == 1, "102 still there")
    print("stdio operate: ok")


def http_client(token):
    h = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, verify=False,
                           timeout=120)
    return Client(streamable_http_client(os.environ["MCP_URL"], http_client=h), client_info=ME)


async def http():
    async with http_client(os.environ["SCOPED_TOKEN"]) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        check(EXPECTED_TOOLS <= names, "tools over HTTP")
        err, out, text = await call(c, "list_guests")
        check(not err and [g["vmid"] for g in out["items"]] == [100, 101], f"scoped list: {text}")
        err, out, text = await call(c, "get_guest", {"guest": "102"})
        check(err and "no guest" in text, f"scoped get_guest outside the scope: {text}")
        err, out, text = await call(c, "start", {"guest": "web-1"})
        check(err and "operator or admin role" in text, f"a viewer cannot operate: {text}")
    async with http_client(os.environ["ADMIN_TOKEN"]) as c:
        err, ch, text = await call(c, "propose_change",
                                   {"change": {"action": "guests", "operation": "delete",
                                               "selector": "id:102"}})
        check(not err, f"propose over HTTP: {text}")
        # Approval over the REST API: never with the token that proposed it.
        base = os.environ["MCP_URL"].removesuffix("/mcp")
        async with httpx2.AsyncClient(verify=False) as rest:
            url = f"{base}/api/v1/mcp/changes/{ch['id']}/approve"
            own = await rest.post(url, headers={"Authorization": f"Bearer {os.environ['ADMIN_TOKEN']}"})
            check(own.status_code == 409 and "proposed with this token" in own.text,
                  f"self-approval: {own.status_code} {own.text}")
            person = await rest.post(url, headers={"Authorization": f"Bearer {os.environ['PERSON_TOKEN']}"})
            check(person.status_code == 200 and person.json()["status"] == "approved",
                  f"approval by a person: {person.status_code} {person.text}")
        err, out, text = await call(c, "apply_change", {"id": ch["id"], "digest": ch["digest"]})
        check(not err and out["status"] == "applied", f"apply over HTTP: {text}")
        err, out, text = await call(c, "list_guests")
        check([g["vmid"] for g in out["items"]] == [100, 101], f"102 deleted: {text}")
        err, out, text = await call(c, "audit_search", {"actor": "mcp:proxctl-test", "last": 500})
        check(not err, f"audit_search: {text}")
        actions = {r["action"] for r in out["rows"]}
        for tool in ["list_guests", "get_guest", "start", "snapshot_create", "propose_change",
                     "apply_change", "set_tags"]:
            check(f"mcp tool {tool}" in actions, f"audited: {tool} in {sorted(actions)}")
        # The PVE calls the tools made are audited under the same actor.
        check(any("DELETE" in a for a in actions), f"the delete itself: {sorted(actions)}")
    print("http: ok")


async def main():
    await read_only()
    await operate()
    await http()
    print("mcp scenario passed")


asyncio.run(main())
