//go:build integration

package reconciler

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/testinfra"
)

// cdp drives headless Chromium over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on fd 3, replies on fd 4, each message
// ending in a NUL byte), so a test can click in a page and read its DOM.
type cdp struct {
	t    *testing.T
	cmd  *exec.Cmd
	w    *os.File
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startCDP(t *testing.T) *cdp {
	bin := chromium(t)
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// Its own profile directory, removed after the browser and its child
	// processes are gone (t.TempDir would race with their last writes).
	profile, err := os.MkdirTemp("", "isthmus-cdp-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+profile, "--window-size=1400,2000", "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW} // fd 3, fd 4
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromium: %v", err)
	}
	cmdR.Close()
	outW.Close()
	c := &cdp{t: t, cmd: cmd, w: cmdW, wait: map[int]chan cdpReply{}}
	go func() {
		rd := bufio.NewReaderSize(outR, 1<<20)
		for {
			msg, err := rd.ReadBytes(0)
			if err != nil {
				return
			}
			var m struct {
				ID int `json:"id"`
				cdpReply
			}
			if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
				continue // an event
			}
			c.mu.Lock()
			ch := c.wait[m.ID]
			delete(c.wait, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m.cdpReply
			}
		}
	}()
	t.Cleanup(func() {
		// Ask the browser to close, give it a few seconds, then kill it.
		b, _ := json.Marshal(map[string]any{"id": 1 << 30, "method": "Browser.close"})
		_, _ = cmdW.Write(append(b, 0))
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cancel()
			<-exited
		}
		cancel()
		cmdW.Close()
		outR.Close()
		for range 10 {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return c
}

// send runs one command (on a page's session when session is set).
func (c *cdp) send(session, method string, params any, out any) {
	c.t.Helper()
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan cdpReply, 1)
	c.wait[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.w.Write(append(b, 0)); err != nil {
		c.t.Fatalf("cdp %s: %v", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			c.t.Fatalf("cdp %s: %s", method, r.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				c.t.Fatalf("cdp %s: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("cdp %s: no reply within 30s", method)
	}
}

// open loads url in a new tab and returns its session.
func (c *cdp) open(url string) string {
	var tgt struct {
		TargetID string `json:"targetId"`
	}
	c.send("", "Target.createTarget", map[string]any{"url": url}, &tgt)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	c.send("", "Target.attachToTarget", map[string]any{"targetId": tgt.TargetID, "flatten": true}, &att)
	return att.SessionID
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func (c *cdp) eval(session, expr string, out any) {
	c.t.Helper()
	if err := c.try(session, expr, out); err != nil {
		c.t.Fatal(err)
	}
}

// try is eval returning the page's exception (e.g. an element not there yet).
func (c *cdp) try(session, expr string, out any) error {
	c.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	c.send(session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		return fmt.Errorf("eval %s: %s", expr, r.ExceptionDetails.Text)
	}
	if out != nil && len(r.Result.Value) > 0 {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			return fmt.Errorf("eval %s: %v (%s)", expr, err, r.Result.Value)
		}
	}
	return nil
}

// waitFor evaluates a boolean expression until it holds.
func (c *cdp) waitFor(session, what, expr string, within time.Duration) {
	c.t.Helper()
	var err error
	if !testinfra.Within(within, func() bool {
		var ok bool
		err = c.try(session, expr, &ok) // the page may still be loading
		return ok
	}) {
		var dom string
		_ = c.try(session, "document.body.innerText", &dom)
		c.t.Fatalf("%s: not within %s (%v); page text:\n%.3000s", what, within, err, dom)
	}
}

// screenshot writes a PNG of the page.
func (c *cdp) screenshot(session, path string) {
	var r struct {
		Data []byte `json:"data"` // base64 in JSON decodes to bytes
	}
	c.send(session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r)
	if err := os.WriteFile(path, r.Data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}
