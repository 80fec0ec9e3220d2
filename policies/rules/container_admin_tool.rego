# PAL-013: a cluster or container-runtime client runs inside a container
# (kubectl, crictl, ctr, docker, ...). With a mounted service account token
# or runtime socket it drives the cluster or the node from inside a
# workload: lateral movement or escape.
#
# Kernel: the same names are matched at exec in containers, by the file's
# own name (after symlinks); the action is alert, so the kernel reports the
# match and stops nothing. A renamed copy is reported by userspace only.
package palisade.rules.container_admin_tool

import rego.v1

import data.palisade.config
import data.palisade.lib.in_container
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-013",
	"title": "Container administration tool run in a container",
	"description": "kubectl, kubeadm, crictl, ctr, nerdctl, docker, podman, oc or k9s executed inside a container (config: container_admin_tools).",
	"severity": "high",
	"mitre": "T1609",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"container": true, "names": config.container_admin_tools}],
}

hits contains msg if {
	in_container
	found := {n | some n in names; config.container_admin_tools[n]}
	count(found) > 0
	msg := concat("", [concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}

# The kernel's part: every name in config container_admin_tools, in containers.
kernel := {
	"scope": "containers",
	"exec": {"names": [n | some n, _ in config.container_admin_tools; config.container_admin_tools[n]]},
}
