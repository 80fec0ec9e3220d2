package palisade.rules.container_escape_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.container_escape as rule

test_nsenter_into_host_pid1 if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/nsenter", ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "bash"])
	count(hits) == 1
}

test_chroot_proc_1_root if {
	hits := rule.hits with input as fx.container_exec("/usr/sbin/chroot", ["chroot", "/proc/1/root", "/bin/bash"])
	hits == {"chroot reaches for host paths (/proc/1/root) in container web (registry.example.com/shop/web:1.4.2): chroot /proc/1/root /bin/bash"}
}

test_release_agent_write if {
	hits := rule.hits with input as fx.container_exec("/bin/sh", ["sh", "-c", "echo /cmd > /tmp/cgrp/release_agent"])
	count(hits) == 1
}

test_mount_host_disk if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/mount", ["mount", "/dev/nvme0n1p1", "/mnt"])
	count(hits) == 1
}

test_mount_cgroup if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/mount", ["mount", "-t", "cgroup", "-o", "rdma", "cgroup", "/tmp/cgrp"])
	count(hits) == 1
}

test_mount_tmpfs_is_not_matched if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/mount", ["mount", "-t", "tmpfs", "tmpfs", "/scratch"])
	count(hits) == 0
}

test_nsenter_on_the_host_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/nsenter", ["nsenter", "-t", "4242", "-n", "ip", "addr"])
	count(hits) == 0
}

test_kernel_denies_escape_tools_in_containers if {
	rule.kernel.scope == "containers"
	"nsenter" in rule.kernel.exec.names
	"unshare" in rule.kernel.exec.names
	count(rule.kernel.exec.names) == count(data.palisade.config.escape_tools)
}
