package s3_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// A fault proxy between the client and the real S3 server, on 127.0.0.1:
// it forwards bytes, counts those sent to the server, and on command cuts
// every connection, stops answering, or swallows the server's answers.
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string // host:port of the server
	URL    string // http://127.0.0.1:PORT

	up     atomic.Int64 // bytes forwarded from the client to the server
	mode   atomic.Int32
	at     atomic.Int64 // when > 0: switch to then once up reaches it
	then   atomic.Int32
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
	closed bool
}

const (
	pass int32 = iota
	down       // refuse: every connection is closed at once
	hang       // accept and read everything, never answer
	drop       // forward requests; cut the connection instead of answering
)

func newProxy(t testing.TB, endpoint string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: strings.TrimPrefix(endpoint, "http://"), URL: "http://" + ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Set switches the mode now; At switches to mode once n more bytes went
// to the server.
func (p *proxy) Set(mode int32) {
	p.at.Store(0)
	p.mode.Store(mode)
	if mode == down {
		p.closeConns()
	}
}

func (p *proxy) At(n int64, mode int32) {
	p.then.Store(mode)
	p.at.Store(p.up.Load() + n)
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops the proxy and waits for all its goroutines.
func (p *proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.closeConns()
	p.wg.Wait()
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		switch p.mode.Load() {
		case down:
			p.untrack(c)
			continue
		case hang:
			p.wg.Go(func() { io.Copy(io.Discard, c); p.untrack(c) })
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.untrack(c)
			continue
		}
		if !p.track(s) {
			p.untrack(c)
			return
		}
		p.wg.Go(func() { p.toServer(c, s); p.untrack(c, s) })
		p.wg.Go(func() { p.toClient(c, s); p.untrack(c, s) })
	}
}

// switchAt applies At's pending switch once up reached its mark.
func (p *proxy) switchAt() {
	if at := p.at.Load(); at > 0 && p.up.Load() >= at && p.at.CompareAndSwap(at, 0) {
		p.Set(p.then.Load())
	}
}

func (p *proxy) toServer(c, s net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			switch p.mode.Load() {
			case down:
				return
			case hang:
				continue // swallowed
			}
			b := buf[:n]
			if at := p.at.Load(); at > 0 {
				b = b[:min(int64(n), max(0, at-p.up.Load()))]
			}
			if len(b) > 0 {
				if _, werr := s.Write(b); werr != nil {
					return
				}
				p.up.Add(int64(len(b)))
			}
			p.switchAt()
			if len(b) < n { // the rest was held back by the switch
				if p.mode.Load() != hang {
					return
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := s.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

func (p *proxy) toClient(c, s net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			switch p.mode.Load() {
			case down, drop:
				return // the answer is lost
			case hang:
				continue
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
