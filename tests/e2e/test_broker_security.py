"""test_broker_security.py -- the bridge against a mosquitto that wants TLS and a password.

The test makes its own CA, server and client certificates with openssl and a password file with
mosquitto_passwd, and runs one mosquitto with three listeners: plain and anonymous (for the
test's observer only), TLS with a password, and TLS with a password and a client certificate.
A wrong CA, a certificate for another host name or a wrong password must each be a clear error
in the log and in `sonos-bridge status`, with a slow, bounded retry: no reconnect storm."""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import harness

KITCHEN_IP = "127.0.0.2"
USER, PASSWORD = "bridge", "correct horse battery staple"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


def make_pki(d):
    """A CA, a server certificate for DNS:localhost signed by it, a client certificate, and
    a second CA that signed nothing the broker uses."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
                "-subj", "/CN=sonos-bridge test %s" % ca, cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "sonos-bridge")):
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
                cwd=d)
        extra = ["-extfile", "server.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", *extra, cwd=d)
    subprocess.run(["mosquitto_passwd", "-b", "-c", os.path.join(d, "passwd"), USER, PASSWORD],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


class BrokerSecurityTest(harness.E2ETestCase):

    @classmethod
    def setUpClass(cls):
        for tool in ("openssl", "mosquitto_passwd"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("%s is not installed" % tool)
        cls.pki = tempfile.mkdtemp(prefix="sbpki")
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.broker = harness.Broker()
        self.tls_port, self.cert_port = harness.free_port(), harness.free_port()
        p = lambda name: os.path.join(self.pki, name)  # noqa: E731
        tls = ["cafile %s" % p("ca.crt"), "certfile %s" % p("server.crt"),
               "keyfile %s" % p("server.key"), "allow_anonymous false",
               "password_file %s" % p("passwd")]
        lines = ["per_listener_settings true",
                 "listener %d 127.0.0.1" % self.broker.port, "allow_anonymous true",
                 "listener %d 127.0.0.1" % self.tls_port] + tls + [
                 "listener %d 127.0.0.1" % self.cert_port] + tls + [
                 "require_certificate true",
                 "log_dest file %s" % self.broker.log, "log_type all",
                 "log_timestamp true", "persistence false"]
        if os.geteuid() == 0:
            lines.append("user root")
        with open(self.broker.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.broker.start()
        self.addCleanup(self.broker.cleanup)
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])

    def secret_file(self, text, mode=0o600):
        path = os.path.join(tempfile.mkdtemp(prefix="sbpw"), "password")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, mode)
        return path

    def bridge_with(self, port=None, **keys):
        config = {"broker_host": "localhost", "broker_port": port or self.tls_port,
                  "broker_cafile": os.path.join(self.pki, "ca.crt"),
                  "broker_username": USER,
                  "broker_password_file": self.secret_file(PASSWORD)}
        config.update(keys)
        return self.start_bridge(self.broker, extra=config)

    def online(self, timeout):
        return self.mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and
                                m.text == "online", timeout)

    def tls_attempts(self, port):
        return len(re.findall(r"New connection from \S+ on port %d\b" % port,
                              self.broker.log_text()))

    def status(self, bridge):
        out = subprocess.run([bridge.binary, "status", "--json", "--config", bridge.config_path],
                             capture_output=True, text=True, timeout=15)
        return out.stdout

    def assert_refused_calmly(self, bridge, port, words, status_words=None):
        """Never online; the reason in words in the log and in the status; attempts slow."""
        start = time.monotonic()
        self.assertIsNone(self.online(15), "the bridge got in")
        self.assertTrue(bridge.wait_log(re.escape(words), 5), harness.tail(bridge.log, 30))
        attempts = self.tls_attempts(port)
        elapsed = time.monotonic() - start
        # Backoff from 0.5 s doubling: about 6 attempts in 15 s; a storm would be hundreds.
        self.assertGreaterEqual(attempts, 2)
        self.assertLessEqual(attempts, 10, "%d attempts in %.0f s" % (attempts, elapsed))
        self.assertIn(status_words or words, self.status(bridge))
        log = bridge.log_text()
        self.assertNotIn("restarting", log)  # mqttd keeps trying by itself, no crash loop
        self.assertNotIn(PASSWORD, log)

    def test_tls_with_password_file(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.bridge_with()
        self.assertTrue(self.online(20), harness.tail(bridge.log, 40))
        self.assertRegex(self.broker.log_text(),
                         r"New client connected from \S+ as sonos-bridge-\S+ .*u'%s'" % USER)
        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", {"id": "tls-1", "text": "over TLS"})
        ev = self.mq.wait_event(lambda e: e.get("id") == "tls-1" and e.get("status") in
                                ("done", "failed", "rejected"), 40, after=mark)
        self.assertEqual(ev and ev["status"], "done", ev)
        self.assertTrue(kitchen.actions_named("SetAVTransportURI"))
        # The password is in no process's arguments or environment.
        for pid in [bridge.pid] + bridge.worker_pids():
            for what in ("cmdline", "environ"):
                with open("/proc/%d/%s" % (pid, what), "rb") as f:
                    self.assertNotIn(PASSWORD.encode(), f.read(), what)
        status = self.status(bridge)
        self.assertIn('"broker_connected":true', status.replace(" ", ""))

    def test_client_certificate(self):
        bridge = self.bridge_with(port=self.cert_port,
                                  broker_certfile=os.path.join(self.pki, "client.crt"),
                                  broker_keyfile=os.path.join(self.pki, "client.key"))
        self.assertTrue(self.online(20), harness.tail(bridge.log, 40))

    def test_client_certificate_missing(self):
        bridge = self.bridge_with(port=self.cert_port)
        self.assertIsNone(self.online(10))
        self.assertTrue(bridge.wait_log(r"error: .*TLS", 5), harness.tail(bridge.log, 30))

    def test_wrong_ca(self):
        bridge = self.bridge_with(broker_cafile=os.path.join(self.pki, "other-ca.crt"))
        self.assert_refused_calmly(bridge, self.tls_port, "certificate was not accepted")

    def test_host_name_checked(self):
        # The certificate names localhost; 127.0.0.1 is the same machine but not that name.
        bridge = self.bridge_with(broker_host="127.0.0.1")
        self.assert_refused_calmly(bridge, self.tls_port, "certificate was not accepted")

    def test_verification_off(self):
        bridge = self.bridge_with(broker_host="127.0.0.1", broker_tls_verify=0)
        self.assertTrue(self.online(20), harness.tail(bridge.log, 40))
        self.assertTrue(bridge.wait_log(r"broker_tls_verify is 0", 5))

    def test_wrong_password(self):
        bridge = self.bridge_with(broker_password_file=self.secret_file("not the password"))
        self.assert_refused_calmly(bridge, self.tls_port, "refused the username or password",
                                   "not authorised")

    def test_password_file_missing(self):
        bridge = self.bridge_with(broker_password_file="/nonexistent/sb-password")
        self.assertTrue(harness.wait_until(lambda: not bridge.running, 15))
        self.assertEqual(bridge.proc.returncode, 78)
        self.assertTrue(bridge.wait_log(r"broker_password_file: /nonexistent/sb-password", 1))

    def test_password_file_readable_by_others(self):
        bridge = self.bridge_with(broker_password_file=self.secret_file(PASSWORD, 0o644))
        self.assertTrue(self.online(20), harness.tail(bridge.log, 40))
        self.assertTrue(bridge.wait_log(r"can be read by other users", 5))


if __name__ == "__main__":
    unittest.main()
