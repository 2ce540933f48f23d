package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

func TestParseArgs(t *testing.T) {
	cfg, err := parseArgs([]string{"-t", "dealer", "-connect", "tcp://h:1", "-bind", "tcp://*:*",
		"-connect", "ipc:///tmp/x", "-d", "|", "-id", "me", "-n", "3", "-wait-peers", "2", "-wait", "1s", "-linger", "0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []endpointArg{{false, "tcp://h:1"}, {true, "tcp://*:*"}, {false, "ipc:///tmp/x"}}
	if cfg.typ != socket.Dealer || !reflect.DeepEqual(cfg.endpoints, want) || string(cfg.delim) != "|" ||
		cfg.id != "me" || cfg.n != 3 || cfg.waitPeers != 2 || cfg.wait != time.Second || cfg.linger != 0 {
		t.Errorf("parsed %+v", cfg)
	}

	cfg, err = parseArgs([]string{"-t", "SUB", "-connect", "tcp://h:1", "-sub", "a", "-sub", ""})
	if err != nil || !reflect.DeepEqual(cfg.subs, []string{"a", ""}) || string(cfg.delim) != "\t" || cfg.linger != socket.DefaultLinger {
		t.Errorf("sub: %+v, %v", cfg, err)
	}
	cfg, err = parseArgs([]string{"-t", "rep", "-bind", "tcp://*:1", "-reply", "ok\tgo"})
	if err != nil || !reflect.DeepEqual(cfg.reply.Strings(), []string{"ok", "go"}) {
		t.Errorf("reply: %+v, %v", cfg, err)
	}
	cfg, err = parseArgs([]string{"-t", "rep", "-bind", "tcp://*:1"})
	if err != nil || cfg.reply != nil {
		t.Errorf("rep echoes by default: %+v, %v", cfg, err)
	}
	cfg, err = parseArgs([]string{"-t", "pull", "-bind", "tcp://*:1", "-timeout", "2s", "-heartbeat", "1s,5s,10s"})
	if err != nil || cfg.timeout != 2*time.Second || cfg.heartbeat != (heartbeat{time.Second, 5 * time.Second, 10 * time.Second}) {
		t.Errorf("timeout, heartbeat: %+v, %v", cfg, err)
	}
	cfg, err = parseArgs([]string{"-t", "pull", "-bind", "tcp://*:1", "-heartbeat", "500ms"})
	if err != nil || cfg.timeout != 0 || cfg.heartbeat != (heartbeat{interval: 500 * time.Millisecond}) {
		t.Errorf("heartbeat interval alone: %+v, %v", cfg, err)
	}

	bad := [][]string{
		{},
		{"-bind", "tcp://*:1"},
		{"-t", "nope", "-bind", "tcp://*:1"},
		{"-t", "push"},
		{"-t", "push", "-bind", "tcp://*:1", "extra"},
		{"-t", "push", "-bind", "tcp://*:1", "-d", ""},
		{"-t", "push", "-bind", "tcp://*:1", "-n", "-1"},
		{"-t", "push", "-bind", "tcp://*:1", "-n", "x"},
		{"-t", "push", "-bind", "tcp://*:1", "-sub", "a"},
		{"-t", "req", "-bind", "tcp://*:1", "-reply", "a"},
		{"-t", "pull", "-bind", "tcp://*:1", "-wait-peers", "1"},
		{"-t", "push", "-bind", "tcp://*:1", "-wait", "-1s"},
		{"-t", "push", "-bind", "tcp://*:1", "-id", ""},
		{"-t", "push", "-bind", "tcp://*:1", "-timeout", "1s"},
		{"-t", "pull", "-bind", "tcp://*:1", "-timeout", "-1s"},
		{"-t", "pull", "-bind", "tcp://*:1", "-curve-server", "/nonexistent_secret"},
		{"-t", "pull", "-bind", "tcp://*:1", "-curve-server", "a", "-curve-client", "b", "-curve-serverkey", "k"},
		{"-t", "push", "-connect", "tcp://h:1", "-curve-client", "a"},
		{"-t", "push", "-connect", "tcp://h:1", "-curve-serverkey", "k"},
		{"-t", "pull", "-bind", "tcp://*:1", "-curve-allow", "/tmp"},
		{"-t", "pull", "-bind", "tcp://*:1", "-heartbeat", "0"},
		{"-t", "pull", "-bind", "tcp://*:1", "-heartbeat", "1s,1s,99ms"},
		{"-t", "pull", "-bind", "tcp://*:1", "-heartbeat", "1s,1s,1s,1s"},
		{"-t", "pull", "-bind", "tcp://*:1", "-heartbeat", "1s,"},
		{"-t", "push", "-bind", "inproc://x"},
		{"-t", "push", "-bind"},
		{"-nope"},
	}
	for _, args := range bad {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("parseArgs(%q) succeeded", args)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("parseArgs(%q): error has a newline: %q", args, err)
		}
	}
}

func TestRoles(t *testing.T) {
	want := map[socket.Type]role{
		socket.Push: sendOnly, socket.Pub: sendOnly, socket.Pull: recvOnly, socket.Sub: recvOnly,
		socket.Req: requester, socket.Rep: replier, socket.Pair: duplex, socket.Dealer: duplex,
		socket.Router: duplex, socket.XPub: duplex, socket.XSub: duplex,
	}
	for typ, r := range want {
		if roleOf(typ) != r {
			t.Errorf("roleOf(%v) = %v, want %v", typ, roleOf(typ), r)
		}
	}
}
