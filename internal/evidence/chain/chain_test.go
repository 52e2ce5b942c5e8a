// SPDX-License-Identifier: Apache-2.0

package chain

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func sample() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("container.id", "c1")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(1_700_000_000_000_000_001)
	lr.SetObservedTimestamp(1_700_000_000_000_000_002)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.SetEventName(EventCreated)
	lr.Body().SetStr("touch created /tmp/x (pid 1, user root)")
	a := lr.Attributes()
	a.PutStr("file.path", "/tmp/\\xff")
	a.PutInt(AttrSeq, 7)
	a.PutDouble("d", 0.1)
	a.PutBool("b", true)
	a.PutEmptyBytes("y").FromRaw([]byte{0, 1, 255})
	s := a.PutEmptySlice("ids")
	s.AppendEmpty().SetStr("spiffe://a")
	s.AppendEmpty().SetInt(-1)
	m := a.PutEmptyMap("lost")
	m.PutInt("z", 1)
	m.PutInt("a", 2)
	rk := rl.Resource().Attributes().PutEmptySlice(AttrResourceKeys)
	rk.AppendEmpty().SetStr("container.id")
	rk.AppendEmpty().SetStr(AttrResourceKeys)
	return ld
}

func first(ld plog.Logs) (plog.LogRecord, pcommon.Resource) {
	rl := ld.ResourceLogs().At(0)
	return rl.ScopeLogs().At(0).LogRecords().At(0), rl.Resource()
}

// TestCanonicalSurvivesJSON: the file exporter's OTLP JSON gives back the
// same canonical form, every value type included.
func TestCanonicalSurvivesJSON(t *testing.T) {
	ld := sample()
	lr, res := first(ld)
	want := Canonical(nil, lr, res)
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	back, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	require.NoError(t, err)
	lr2, res2 := first(back)
	assert.Equal(t, want, Canonical(nil, lr2, res2))
}

// TestCanonicalBytes pins the forms docs/evidence-chain.md states on a
// small record and its resource, byte by byte.
func TestCanonicalBytes(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k", "v")
	rl.Resource().Attributes().PutStr("added.later", "not covered")
	keys := rl.Resource().Attributes().PutEmptySlice(AttrResourceKeys)
	keys.AppendEmpty().SetStr("k")
	keys.AppendEmpty().SetStr("gone")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(1)
	lr.SetObservedTimestamp(2)
	lr.SetSeverityNumber(9)
	lr.SetSeverityText("I")
	lr.SetEventName("e")
	lr.Body().SetStr("b")
	lr.Attributes().PutInt("n", -2)
	lr.Attributes().PutStr(AttrSignature, "not covered")
	lr.Attributes().PutStr("m", "x")
	o := lr.Attributes().PutEmptyMap("o")
	o.PutInt("z", 1)
	o.PutBool("a", true)

	var r bytes.Buffer
	r.WriteString("kernelevents.evidence.resource.v2\x00")
	r.Write([]byte{0, 0, 0, 2})                          // two resource keys, sorted
	r.Write([]byte{0, 0, 0, 4, 'g', 'o', 'n', 'e', 'x'}) // absent
	r.Write([]byte{0, 0, 0, 1, 'k', 's', 0, 0, 0, 1, 'v'})
	assert.Equal(t, hex.EncodeToString(r.Bytes()), hex.EncodeToString(ResourceCanonical(nil, rl.Resource())))

	var b bytes.Buffer
	b.WriteString("kernelevents.evidence.v2\x00")
	b.Write([]byte{0, 0, 0, 1, 'e'})
	b.Write([]byte{0, 0, 0, 3, 0, 0, 0, 1, 'm', 0, 0, 0, 1, 'n', 0, 0, 0, 1, 'o'}) // the keys but the signature, in byte order
	b.Write([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9})
	b.Write([]byte{0, 0, 0, 1, 'I', 's', 0, 0, 0, 1, 'b'})
	b.Write([]byte{'s', 0, 0, 0, 1, 'x'})                                                                   // m
	b.Write([]byte{'i', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe})                                    // n
	b.Write([]byte{'m', 0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 1, 'z', 'b', 1, 'i', 0, 0, 0, 0, 0, 0, 0, 1}) // o
	rd := sha256.Sum256(r.Bytes())
	b.Write(rd[:])
	assert.Equal(t, hex.EncodeToString(b.Bytes()), hex.EncodeToString(Canonical(nil, lr, rl.Resource())))
	assert.Equal(t, Hash(sha256.Sum256(b.Bytes())), Sum(lr, rl.Resource()))
}

// TestCanonicalShapes: one Hasher over records whose keys come in
// different orders and numbers, and maps too large to remember, gives the
// same form as a fresh Hasher each time (the remembered orders are never
// taken for another map's).
func TestCanonicalShapes(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var h Hasher
	res := pcommon.NewResource()
	for i := 0; i < 500; i++ {
		lr := plog.NewLogRecord()
		n := rng.IntN(maxSorted + 20)
		keys := rng.Perm(n)
		for _, k := range keys {
			lr.Attributes().PutInt(fmt.Sprintf("k%03d", k%(maxSorted+5)), int64(k))
		}
		if rng.IntN(3) == 0 {
			m := lr.Attributes().PutEmptyMap("nested")
			for _, k := range rng.Perm(rng.IntN(5)) {
				m.PutInt(fmt.Sprintf("n%d", k), 1)
			}
		}
		rd := h.ResourceSum(res)
		got := h.Canonical(nil, lr, rd)
		var fresh Hasher
		require.Equal(t, fresh.Canonical(nil, lr, rd), got, "record %d", i)
		// And sorted: the form of the same attributes put in key order.
		sorted := plog.NewLogRecord()
		for _, k := range slices.Sorted(maps.Keys(lr.Attributes().AsRaw())) {
			v, _ := lr.Attributes().Get(k)
			v.CopyTo(sorted.Attributes().PutEmpty(k))
		}
		require.Equal(t, got, h.Canonical(nil, sorted, rd), "record %d", i)
		// The hash resumed after a remembered prefix is the whole form's.
		require.Equal(t, Hash(sha256.Sum256(got)), h.Sum(lr, rd), "record %d", i)
		// A string attribute given apart hashes as if it were set: added
		// (AttrPrev), or replacing a value of any type (k000 when present).
		for _, key := range []string{AttrPrev, "k000"} {
			value := fmt.Sprintf("%064x", i)
			with := plog.NewLogRecord()
			lr.CopyTo(with)
			with.Attributes().PutStr(key, value)
			require.Equal(t, Hash(sha256.Sum256(fresh.Canonical(nil, with, rd))), h.SumWith(lr, rd, key, []byte(value)), "record %d with %s", i, key)
		}
		require.Equal(t, Hash(sha256.Sum256(got)), h.Sum(lr, rd), "record %d after SumWith", i)
		lr.SetEventName("other")
		require.Equal(t, Hash(sha256.Sum256(fresh.Canonical(nil, lr, rd))), h.Sum(lr, rd), "record %d, another event", i)
	}
}

// TestCanonicalCovers: what the receiver wrote changes the hash; a resource
// attribute added downstream and the signature do not.
func TestCanonicalCovers(t *testing.T) {
	base := func() Hash { lr, res := first(sample()); return Sum(lr, res) }()
	for name, f := range map[string]func(plog.LogRecord, pcommon.Resource){
		"time":            func(lr plog.LogRecord, _ pcommon.Resource) { lr.SetTimestamp(lr.Timestamp() + 1) },
		"observed":        func(lr plog.LogRecord, _ pcommon.Resource) { lr.SetObservedTimestamp(1) },
		"severity":        func(lr plog.LogRecord, _ pcommon.Resource) { lr.SetSeverityNumber(plog.SeverityNumberWarn) },
		"severity text":   func(lr plog.LogRecord, _ pcommon.Resource) { lr.SetSeverityText("WARN") },
		"event":           func(lr plog.LogRecord, _ pcommon.Resource) { lr.SetEventName(EventGap) },
		"body":            func(lr plog.LogRecord, _ pcommon.Resource) { lr.Body().SetStr("other") },
		"attribute":       func(lr plog.LogRecord, _ pcommon.Resource) { lr.Attributes().PutStr("file.path", "/tmp/y") },
		"attribute type":  func(lr plog.LogRecord, _ pcommon.Resource) { lr.Attributes().PutStr(AttrSeq, "7") },
		"added attribute": func(lr plog.LogRecord, _ pcommon.Resource) { lr.Attributes().PutStr("x", "") },
		"removed":         func(lr plog.LogRecord, _ pcommon.Resource) { lr.Attributes().Remove("b") },
		"map value": func(lr plog.LogRecord, _ pcommon.Resource) {
			v, _ := lr.Attributes().Get("lost")
			v.Map().PutInt("a", 3)
		},
		"covered resource": func(_ plog.LogRecord, res pcommon.Resource) { res.Attributes().PutStr("container.id", "c2") },
		"removed resource": func(_ plog.LogRecord, res pcommon.Resource) { res.Attributes().Remove("container.id") },
		"resource keys":    func(_ plog.LogRecord, res pcommon.Resource) { res.Attributes().Remove(AttrResourceKeys) },
		"one resource key less": func(_ plog.LogRecord, res pcommon.Resource) {
			v, _ := res.Attributes().Get(AttrResourceKeys)
			v.Slice().RemoveIf(func(k pcommon.Value) bool { return k.Str() == "container.id" })
		},
	} {
		lr, res := first(sample())
		f(lr, res)
		h := Sum(lr, res)
		assert.NotEqual(t, base, h, name)
	}
	for name, f := range map[string]func(plog.LogRecord, pcommon.Resource){
		"resource added downstream": func(_ plog.LogRecord, res pcommon.Resource) { res.Attributes().PutStr("k8s.pod.name", "p") },
		"signature":                 func(lr plog.LogRecord, _ pcommon.Resource) { lr.Attributes().PutStr(AttrSignature, "ab") },
		"attribute order": func(lr plog.LogRecord, _ pcommon.Resource) {
			v, _ := lr.Attributes().Get("lost")
			v.Map().Remove("z")
			v.Map().PutInt("z", 1)
		},
	} {
		lr, res := first(sample())
		f(lr, res)
		h := Sum(lr, res)
		assert.Equal(t, base, h, name)
	}
}

func TestSignVerify(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	h := Hash{1, 2, 3}
	signer, sig := Sign(key, h)
	require.NoError(t, Verify(h, Signature{Signer: signer, Value: sig}, Trust{}))
	require.NoError(t, Verify(h, Signature{Signer: signer, Value: sig}, Trust{Key: pub}))

	assert.ErrorContains(t, Verify(Hash{9}, Signature{Signer: signer, Value: sig}, Trust{}), "does not match")
	other, _, _ := ed25519.GenerateKey(nil)
	assert.ErrorContains(t, Verify(h, Signature{Signer: signer, Value: sig}, Trust{Key: other}), "not the trusted key")
	assert.ErrorIs(t, Verify(h, Signature{}, Trust{}), ErrUnsigned)
	assert.ErrorContains(t, Verify(h, Signature{Signer: "rsa:00", Value: sig}, Trust{}), "neither ed25519:")
	// A trust bundle alone does not accept a file key.
	assert.ErrorContains(t, Verify(h, Signature{Signer: signer, Value: sig}, Trust{Roots: x509.NewCertPool()}), "not by an SVID")
}

// testCA is a CA and an ECDSA P-256 SVID it issued for id, valid for an hour
// from notBefore.
func testCA(t *testing.T, id string, notBefore time.Time) (ca *x509.Certificate, leaf *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	u, err := url.Parse(id)
	require.NoError(t, err)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: notBefore, NotAfter: notBefore.Add(time.Hour), URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err = x509.CreateCertificate(rand.Reader, lt, ca, key.Public(), caKey)
	require.NoError(t, err)
	leaf, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	return ca, leaf, key
}

func TestSignVerifySVID(t *testing.T) {
	const id = "spiffe://example.org/kernelevents"
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	ca, leaf, key := testCA(t, id, start)
	otherCA, _, _ := testCA(t, id, start)
	roots, wrong := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	wrong.AddCert(otherCA)

	h := Hash{4, 5, 6}
	signer, certs := SVIDSigner(id, []*x509.Certificate{leaf})
	assert.Equal(t, "x509-svid:"+id, signer)
	sig, err := SignSVID(key, h)
	require.NoError(t, err)
	s := Signature{Signer: signer, Value: sig, Chain: certs, Time: start.Add(time.Minute)}
	require.NoError(t, Verify(h, s, Trust{}))
	require.NoError(t, Verify(h, s, Trust{Roots: roots}))

	assert.ErrorContains(t, Verify(h, s, Trust{Roots: wrong}), "not an SVID of the trust bundle")
	assert.ErrorContains(t, Verify(Hash{7}, s, Trust{Roots: roots}), "does not match")
	late := s
	late.Time = start.Add(2 * time.Hour) // the SVID had expired when the checkpoint was signed
	assert.ErrorContains(t, Verify(h, late, Trust{Roots: roots}), "not an SVID of the trust bundle")
	renamed := s
	renamed.Signer = SVIDSignerPrefix + "spiffe://example.org/other"
	assert.ErrorContains(t, Verify(h, renamed, Trust{Roots: roots}), "is not an SVID of spiffe://example.org/other")
	noChain := s
	noChain.Chain = nil
	assert.ErrorContains(t, Verify(h, noChain, Trust{}), "no "+AttrSignerChain)
	pub, _, _ := ed25519.GenerateKey(nil)
	assert.ErrorContains(t, Verify(h, s, Trust{Key: pub}), "not the trusted key")

	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	pool, err := ReadTrustBundle(pemBytes)
	require.NoError(t, err)
	require.NoError(t, Verify(h, s, Trust{Roots: pool}))
	_, err = ReadTrustBundle([]byte("not pem"))
	assert.ErrorContains(t, err, "no PEM CERTIFICATE")
}

// TestCanonicalKeyOrders: records whose attributes were put in any order
// have one canonical form, whatever order the records before them had (the
// sorted orders appendMap remembers), and a different key set another.
func TestCanonicalKeyOrders(t *testing.T) {
	keys := []string{"file.path", "process.pid", "user.id", "a", "zz", "kernelevents.evidence.seq", "m"}
	record := func(perm []int, drop int) (plog.LogRecord, pcommon.Resource) {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		for _, i := range perm {
			if i != drop {
				lr.Attributes().PutStr(keys[i], "v"+keys[i])
			}
		}
		return lr, rl.Resource()
	}
	ident := []int{0, 1, 2, 3, 4, 5, 6}
	sum := func(lr plog.LogRecord, res pcommon.Resource) Hash { return Sum(lr, res) }
	base, dropped := sum(record(ident, -1)), sum(record(ident, 3))
	require.NotEqual(t, base, dropped)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 500 {
		perm := rng.Perm(len(keys))
		drop := -1
		if i%3 == 0 {
			drop = 3
		}
		got := sum(record(perm, drop))
		if drop < 0 {
			require.Equal(t, base, got, "order %v", perm)
		} else {
			require.Equal(t, dropped, got, "order %v without a", perm)
		}
	}
}

// TestFormMatchesRecord: a Form given a record's values hashes as the
// record written with them does, whatever attributes, order and shapes
// (more than MaxFormShapes: then End says so).
func TestFormMatchesRecord(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	var f Form
	var h Hasher
	res := pcommon.NewResource()
	res.Attributes().PutStr("container.id", "c1")
	rd := h.ResourceSum(res)
	past := 0
	for i := range 2000 {
		lr := plog.NewLogRecord()
		event := []string{EventCreated, "other"}[rng.IntN(2)]
		lr.SetEventName(event)
		lr.SetTimestamp(pcommon.Timestamp(rng.Uint64()))
		lr.SetObservedTimestamp(pcommon.Timestamp(rng.Uint64()))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		body := fmt.Sprintf("body %d \xff", i)
		lr.Body().SetStr(body)
		f.Begin(event)
		a := lr.Attributes()
		for _, k := range rng.Perm(12)[:rng.IntN(12)] {
			key := fmt.Sprintf("k%02d", k)
			switch k % 4 {
			case 0:
				v := fmt.Sprintf("v%d", rng.IntN(100))
				a.PutStr(key, v)
				f.Str(key, v)
			case 1:
				v := rng.Int64() - rng.Int64()
				a.PutInt(key, v)
				f.Int(key, v)
			case 2:
				v := rng.IntN(2) == 0
				a.PutBool(key, v)
				f.Bool(key, v)
			case 3:
				v := []string{"spiffe://a", "spiffe://b"}[:rng.IntN(3)]
				s := a.PutEmptySlice(key)
				for _, x := range v {
					s.AppendEmpty().SetStr(x)
				}
				f.Strs(key, v)
			}
			if rng.IntN(8) == 0 && f.hole < 0 {
				f.Hole(AttrPrev)
			}
		}
		if f.hole < 0 {
			f.Hole(AttrPrev)
		}
		rest, shape, hole := f.End(nil, uint64(lr.Timestamp()), uint64(lr.ObservedTimestamp()), int32(lr.SeverityNumber()), lr.SeverityText(), body)
		prev := fmt.Sprintf("%064x", i)
		a.PutStr(AttrPrev, prev)
		if shape < 0 {
			past++
			continue
		}
		require.Equal(t, h.Sum(lr, rd), f.Sum(shape, rest, hole, []byte(prev), rd), "record %d", i)
	}
	require.Positive(t, past, "never past MaxFormShapes")
	require.Less(t, past, 1900, "hardly ever a remembered shape")
}
