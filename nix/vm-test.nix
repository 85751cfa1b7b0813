# A NixOS VM with the module and a fake Axiom on loopback: one annotation
# after boot, one more after switching to a specialisation, a switch that
# returns while Axiom hangs (its annotation arriving once Axiom answers), and
# no failed unit or switch when the command cannot use its state directory,
# when systemd cannot set it up, or after quick switches. The flake adds
# the module (checks.<linux system>.nixos); running it needs KVM.
{
  name = "axiom-deploy-annotation";

  nodes.machine =
    { config, pkgs, ... }:
    let
      # Records every POST /v2/annotations body, one JSON object a line, and
      # answers as Axiom does: 201 with the annotation and an ann_ id. It tells
      # systemd it is ready once it listens, so nothing can post too early.
      # While /run/fake-axiom-hang exists it holds every request unanswered.
      fakeAxiom = pkgs.writeText "fake-axiom.py" ''
        import http.server, json, os, socket, time

        LOG = "/var/lib/fake-axiom/annotations.jsonl"
        HANG = "/run/fake-axiom-hang"
        open(LOG, "a").close()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                while os.path.exists(HANG):
                    time.sleep(0.1)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/v2/annotations":
                    self.send_error(404)
                    return
                with open(LOG, "ab") as f:
                    f.write(json.dumps(json.loads(body)).encode() + b"\n")
                with open(LOG) as f:
                    n = sum(1 for _ in f)
                reply = json.dumps(dict(json.loads(body), id=f"ann_{n}")).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Handler)
        notify = os.environ["NOTIFY_SOCKET"]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", "\0" + notify[1:] if notify.startswith("@") else notify)
        server.serve_forever()
      '';
    in
    {
      services.axiom-deploy-annotation = {
        enable = true;
        settings = {
          apiEndpoint = "http://127.0.0.1:8080/v2/annotations";
          tokenFile = "/etc/axiom-token";
        };
      };
      # A test secret only: a real token must never be written into the store.
      environment.etc."axiom-token".text = "xaat-00000000-0000-0000-0000-000000000000";

      systemd.services.fake-axiom = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "notify";
          NotifyAccess = "main";
          DynamicUser = true;
          StateDirectory = "fake-axiom";
          ExecStart = "${pkgs.python3.interpreter} ${fakeAxiom}";
        };
      };

      # A test VM boots its system straight from the kernel command line and
      # has no system profile; give it the one an installed machine has, once:
      # the switch below is a `test`, which leaves the profile alone.
      systemd.services.system-profile = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = "${config.nix.package}/bin/nix-env -p /nix/var/nix/profiles/system --set \"$(readlink -f /run/current-system)\"";
      };

      systemd.services.axiom-deploy-annotation = {
        wants = [ "system-profile.service" ];
        after = [ "system-profile.service" ];
      };
      systemd.services.axiom-deploy-annotation-flush = {
        wants = [ "fake-axiom.service" ];
        after = [ "fake-axiom.service" ];
      };

      specialisation.other.configuration.environment.etc."deploy-flavour".text = "other";
    };

  testScript = ''
    import json

    state = "/var/lib/axiom-deploy-annotation"
    units = [
        "axiom-deploy-annotation.service",
        "axiom-deploy-annotation-flush.service",
        "axiom-deploy-annotation-flush.timer",
    ]

    def annotations():
        out = machine.succeed("cat /var/lib/fake-axiom/annotations.jsonl")
        return [json.loads(line) for line in out.splitlines()]

    def wait_for(n):
        machine.wait_until_succeeds(f"test $(wc -l < /var/lib/fake-axiom/annotations.jsonl) -ge {n}", timeout=60)
        got = annotations()
        assert len(got) == n, got
        return got

    # multi-user.target orders itself after the oneshot that records the
    # deploy; the delivery follows on its own.
    machine.wait_for_unit("multi-user.target")

    with subtest("boot posts one annotation"):
        got = wait_for(1)
        assert got[0]["datasets"] == ["deployments"], got
        assert got[0]["type"] == "nix-deploy", got
        # Not Result: the unit counts the command's failures as success.
        status = machine.succeed("systemctl show --property=ExecMainStatus --value axiom-deploy-annotation.service")
        assert status.strip() == "0", status

    with subtest("switching to a specialisation posts one more"):
        machine.succeed("/run/current-system/specialisation/other/bin/switch-to-configuration test")
        wait_for(2)

    with subtest("a switch returns while Axiom hangs, and the annotation arrives after"):
        machine.succeed("touch /run/fake-axiom-hang")
        # Well under settings.timeout (30 s): the switch waits only for the record.
        machine.succeed("timeout 15 /nix/var/nix/profiles/system/bin/switch-to-configuration test")
        assert len(annotations()) == 2
        machine.succeed("rm /run/fake-axiom-hang")
        # The delivery started after the record retries on a fresh
        # connection, or the next flush delivers it.
        machine.succeed("systemctl start axiom-deploy-annotation-flush.service")
        wait_for(3)

    with subtest("a manual flush finds nothing left to deliver"):
        machine.succeed("axiom-deploy-annotate flush")
        assert len(annotations()) == 3
        machine.fail("find /var/lib/axiom-deploy-annotation -user root | grep .")

    with subtest("a state directory the command cannot use fails no unit and no switch"):
        # A directory where the lock file goes, which the service's user can
        # neither use nor remove: systemd still sets the state directory up,
        # and the command itself fails.
        machine.succeed(f"rm -f {state}/lock && mkdir -p -m 0700 {state}/lock/held")
        # A oneshot's start waits for it to end, and fails if the unit does.
        machine.succeed("systemctl start axiom-deploy-annotation-flush.service")
        status = machine.succeed("systemctl show --property=ExecMainStatus --value axiom-deploy-annotation-flush.service")
        assert status.strip() in {"1", "2", "3", "4"}, status
        # The switch starts the record service, which fails the same way.
        machine.succeed("/run/current-system/bin/switch-to-configuration test")
        status = machine.succeed("systemctl show --property=ExecMainStatus --value axiom-deploy-annotation.service")
        assert status.strip() in {"1", "2", "3", "4"}, status
        for unit in units:
            machine.fail(f"systemctl is-failed --quiet {unit}")
        machine.succeed(f"rm -rf {state}/lock")

    with subtest("a file where the state directory goes fails no unit and no switch"):
        # systemd fails both services before the command runs (status 238,
        # STATE_DIRECTORY), which they count as handled.
        machine.succeed(f"mv {state} {state}.saved && touch {state}")
        machine.succeed("/run/current-system/bin/switch-to-configuration test")
        machine.succeed("systemctl start axiom-deploy-annotation-flush.service")
        machine.succeed("journalctl -u axiom-deploy-annotation.service | grep -q STATE_DIRECTORY")
        for unit in units:
            machine.fail(f"systemctl is-failed --quiet {unit}")
        machine.succeed(f"rm {state} && mv {state}.saved {state}")

    with subtest("quick switches fail no unit and no switch"):
        # Each starts the record and the flush: past systemd's default start
        # limit (5 in 10 s) a unit would be left failed, and the switch with it.
        for _ in range(7):
            machine.succeed("/run/current-system/bin/switch-to-configuration test")
        for unit in units:
            machine.fail(f"systemctl is-failed --quiet {unit}")
  '';
}
