# PAL-004: a shell whose parent or other ancestor is a web server or
# database. Web servers and databases serve requests; a shell under one is
# the signature of a web shell or of command injection (SQL `COPY ... FROM
# PROGRAM`, redis module tricks). Known legitimate uses (a postgres
# archive_command) belong in an exception scoped to that workload.
package palisade.rules.shell_from_service

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.is_shell
import data.palisade.lib.name
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-004",
	"title": "Shell spawned by a web server or database",
	"description": "sh/bash/dash/zsh/... executed with a web server (nginx, apache2, httpd, php-fpm, uwsgi, gunicorn, ...) or a database (mysqld, postgres, redis-server, mongod, ...) among its ancestors (config: web_servers, databases, shells).",
	"severity": "high",
	"mitre": "T1505.003",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{
		"names": config.shells,
		"ancestors": object.union(config.web_servers, config.databases),
	}],
}

hits contains msg if {
	is_shell
	found := [n | some n in ancestor_names; service(n)]
	count(found) > 0
	msg := concat("", [name, " spawned under ", found[0], " ", where, ": ", short_cmdline])
}

service(n) if config.web_servers[n]

service(n) if config.databases[n]
