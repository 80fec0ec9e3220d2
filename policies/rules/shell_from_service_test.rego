package palisade.rules.shell_from_service_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.shell_from_service as rule

test_shell_under_php_fpm if {
	ev := fx.with_ancestors(
		fx.container_exec("/bin/dash", ["sh", "-c", "id; uname -a"]),
		["/usr/sbin/php-fpm8.2", "/usr/bin/containerd-shim-runc-v2"],
	)
	hits := rule.hits with input as ev
	hits == {"dash spawned under php-fpm8.2 in container web (registry.example.com/shop/web:1.4.2): sh -c id; uname -a"}
}

test_shell_under_postgres_grandparent if {
	ev := fx.with_ancestors(
		fx.host_exec("/usr/bin/bash", ["bash", "-i"]),
		["/usr/bin/perl", "/usr/lib/postgresql/16/bin/postgres", "/usr/lib/systemd/systemd"],
	)
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_shell_under_sshd_is_not_matched if {
	ev := fx.with_ancestors(
		fx.host_exec("/usr/bin/bash", ["-bash"]),
		["/usr/sbin/sshd", "/usr/lib/systemd/systemd"],
	)
	hits := rule.hits with input as ev
	count(hits) == 0
}

test_non_shell_under_nginx_is_not_matched if {
	ev := fx.with_ancestors(
		fx.container_exec("/usr/sbin/nginx", ["nginx: worker process"]),
		["/usr/sbin/nginx", "/usr/bin/containerd-shim-runc-v2"],
	)
	hits := rule.hits with input as ev
	count(hits) == 0
}
