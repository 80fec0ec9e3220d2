package palisade.lib_test

import rego.v1

import data.palisade.fixtures as fx
import data.palisade.lib

test_basename if {
	lib.basename("/usr/bin/nc") == "nc"
	lib.basename("nc") == "nc"
	lib.basename("/memfd:x (deleted)") == "memfd:x (deleted)"
	not lib.basename({"text": "x"})
}

test_non_utf8_values_are_read_through_their_text if {
	ev := fx.host_exec({"base64": "L3Vzci9iaW4vbmP/", "text": "/usr/bin/nc\ufffd"}, [{"base64": "bmP/", "text": "nc\ufffd"}, "-l"])
	lib.binary == "/usr/bin/nc\ufffd" with input as ev
	lib.args == ["nc\ufffd", "-l"] with input as ev
	lib.cmdline == "nc\ufffd -l" with input as ev
}

test_names_cover_binary_filename_and_argv0 if {
	ev := fx.with_process(fx.host_exec("/usr/bin/env", ["/usr/bin/env", "node", "/usr/bin/npm", "ci"]), {"filename": "/usr/bin/npm"})
	lib.names == {"env", "npm"} with input as ev
	busybox := fx.host_exec("/bin/busybox", ["nc", "-l"])
	lib.names == {"busybox", "nc"} with input as busybox
	python := fx.host_exec("/usr/bin/python3.12", ["python3", "-m", "pip", "install", "x"])
	lib.names == {"python3.12", "python3", "pip"} with input as python
}

test_shell_command if {
	lib.shell_command == "id" with input as fx.host_exec("/bin/bash", ["bash", "-c", "id"])
	lib.shell_command == "id" with input as fx.host_exec("/bin/bash", ["bash", "-euxc", "id"])
	lib.shell_command == "first" with input as fx.host_exec("/bin/sh", ["sh", "-c", "first", "-c", "second"])
	lib.shell_command == "id" with input as fx.host_exec("/bin/busybox", ["sh", "-c", "id"])
	not lib.shell_command with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "print(1)"])
	not lib.shell_command with input as fx.host_exec("/bin/bash", ["bash", "script.sh"])
	lib.shell_command == "id" with input as fx.host_exec("/bin/bash", ["bash", "-o", "pipefail", "-e", "-c", "id"])
	not lib.shell_command with input as fx.host_exec("/bin/bash", ["bash", "/root/.pyenv/shims/python3", "-c", "print(1)"])
}

test_in_container if {
	lib.in_container with input as fx.container_exec("/bin/true", ["true"])
	not lib.in_container with input as fx.host_exec("/bin/true", ["true"])
}

test_where if {
	lib.where == "on the host" with input as fx.host_exec("/bin/true", ["true"])
	lib.where == "in container web (registry.example.com/shop/web:1.4.2)" with input as fx.container_exec("/bin/true", ["true"])
	lib.where == "in container 0123456789ab" with input as {"container": {"id": "0123456789abcdef"}}
}

test_daddr_normalises_ipv4_mapped_addresses if {
	lib.daddr == "169.254.169.254" with input as fx.host_connect("::ffff:169.254.169.254", 80)
	lib.daddr == "fd00:ec2::254" with input as fx.host_connect("fd00:ec2::254", 80)
	lib.daddr_internal with input as fx.host_connect("::ffff:10.1.2.3", 80)
	not lib.daddr_internal with input as fx.host_connect("203.0.113.7", 80)
}

test_package_installs if {
	lib.package_installs == {["apt-get", "install"]} with input as fx.host_exec("/usr/bin/apt-get", ["apt-get", "-y", "install", "curl"])
	count(lib.package_installs) == 0 with input as fx.host_exec("/usr/bin/apt-get", ["apt-get", "moo"])
	count(lib.package_installs) == 0 with input as fx.host_exec("/usr/bin/install", ["install", "-m", "755", "a", "b"])
}

test_euid_raised if {
	lib.euid_raised with input as fx.with_process(fx.host_exec("/bin/bash", ["bash"]), {"uid": 1000, "euid": 0})
	not lib.euid_raised with input as fx.host_exec("/bin/bash", ["bash"])
	not lib.euid_raised with input as fx.with_process(fx.host_exec("/bin/bash", ["bash"]), {"uid": 1000, "euid": 1000})
}
