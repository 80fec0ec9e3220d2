# Events for the bundle's tests: builders for the shapes the agent emits.
# (A *_test.rego file, so it is loaded with the tests and never ships in
# the evaluated policy.)
package palisade.lib.fixtures

import rego.v1

event_time := "2026-11-24T13:22:32.910797240Z"

# A process_exec on the host, started from an interactive-less shell under
# init (actor "system").
host_exec(binary, args) := {
	"schema": "palisade.event/v1",
	"id": "0192f0c4-test",
	"time": event_time,
	"node": "node-1",
	"kind": "process_exec",
	"process": {
		"pid": 4242, "ppid": 4000,
		"uid": 0, "gid": 0, "euid": 0, "egid": 0,
		"binary": binary, "filename": binary, "args": args,
		"cwd": "/", "cgroup_id": 1, "comm": "test",
		"start_time": event_time,
		"ancestors": [
			{"pid": 4000, "binary": "/usr/bin/bash"},
			{"pid": 1, "binary": "/usr/lib/systemd/systemd"},
		],
	},
}

container := {
	"id": "3f4e9c0d1b2a5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
	"runtime": "containerd",
	"image": "registry.example.com/shop/web:1.4.2",
	"name": "web",
}

pod := {
	"name": "web-7d9f8b6c5-x2k4q",
	"namespace": "shop",
	"uid": "6b1f0f43-2c9e-4d8a-9f0e-3a1b2c3d4e5f",
	"labels": {"app": "web", "tier": "frontend"},
}

# A process_exec in a pod's container, under the runtime's shim.
container_exec(binary, args) := object.union(host_exec(binary, args), {
	"container": container,
	"pod": pod,
	"process": {"ancestors": [
		{"pid": 3100, "binary": "/bin/sh"},
		{"pid": 3000, "binary": "/usr/bin/containerd-shim-runc-v2"},
		{"pid": 1, "binary": "/usr/lib/systemd/systemd"},
	]},
})

# `event` with other ancestors (nearest parent first), given as binaries.
with_ancestors(event, binaries) := object.union(event, {"process": {"ancestors": [a |
	some i, b in binaries
	a := {"pid": 5000 - i, "binary": b}
]}})

# `event` with other process fields (uid, euid, cwd, filename...).
with_process(event, fields) := object.union(event, {"process": fields})

# A network_connect from curl on the host.
host_connect(daddr, dport) := {
	"schema": "palisade.event/v1",
	"id": "0192f0c4-test-net",
	"time": event_time,
	"node": "node-1",
	"kind": "network_connect",
	"process": {
		"pid": 4343, "ppid": 4000, "uid": 0, "gid": 0,
		"binary": "/usr/bin/curl", "args": ["curl", "-s", daddr],
		"cwd": "/", "start_time": event_time,
		"ancestors": [
			{"pid": 4000, "binary": "/usr/bin/bash"},
			{"pid": 1, "binary": "/usr/lib/systemd/systemd"},
		],
	},
	"network": {
		"protocol": "tcp", "family": family(daddr),
		"daddr": daddr, "dport": dport,
		"saddr": "10.244.1.7", "sport": 43120,
	},
}

family(addr) := "ipv6" if {
	contains(addr, ":")
} else := "ipv4"

# A network_connect from a pod's container.
container_connect(daddr, dport) := object.union(host_connect(daddr, dport), {
	"container": container,
	"pod": pod,
	"process": {"ancestors": [
		{"pid": 3000, "binary": "/usr/bin/containerd-shim-runc-v2"},
		{"pid": 1, "binary": "/usr/lib/systemd/systemd"},
	]},
})

# A file event (file_open, file_unlink, file_rename, file_chmod) by the
# process `binary` on the host; `file` holds the kind's fields beyond the
# path (access, new_path, mode, ...); the call succeeded.
host_file(kind, binary, path, file) := object.union(host_exec(binary, [binary]), {
	"kind": kind,
	"file": object.union({"path": path, "syscall": "openat", "result": "ok"}, file),
})

# A read of `path` by `binary`.
host_read(binary, path) := host_file("file_open", binary, path, {"access": "read"})

# An open for writing (create, truncate) of `path` by `binary`.
host_write(binary, path) := host_file("file_open", binary, path, {"access": "write", "flags": ["create", "truncate"], "mode": "0644"})
