// SPDX-License-Identifier: Apache-2.0

// Package chain defines the canonical form of an evidence record, the
// hash chain over it and the checkpoint signature: the one definition the
// receiver (which writes the chain) and kernelevents-verify (which checks it)
// both use. docs/evidence-chain.md states the same bytes for another
// implementation.
package chain // import "github.com/kernelevents/kernelevents/internal/evidence/chain"

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The attributes of the chain, on every evidence record.
const (
	// AttrStream is a resource attribute, not a record's: it names the
	// receiver run the records on the resource belong to, "<node>/<32 hex
	// digits, random at start>" (covered by the resource's digest).
	AttrStream = "kernelevents.evidence.stream"
	// AttrSeq is the record's place in its stream, from 0, without holes:
	// a record the rate limit shed takes its number too, and the gap record
	// that follows states the numbers it stands for.
	AttrSeq = "kernelevents.evidence.seq"
	// AttrPrev is the SHA-256, in hex, of the canonical form of the record
	// numbered seq-1; 64 zeros for seq 0.
	AttrPrev = "kernelevents.evidence.prev"
	// AttrResourceKeys is a resource attribute, not a record's: the
	// resource attributes the receiver set, the ones the resource's digest
	// covers (sorted; itself among them).
	AttrResourceKeys = "kernelevents.evidence.resource_keys"
	// AttrShedFrom is, on a gap record, the first number the shed records
	// took; they took every number up to the gap record's own, excluded.
	AttrShedFrom = "kernelevents.evidence.shed.from"
	// AttrShed is, on a gap record, how many records were shed.
	AttrShed = "kernelevents.evidence.shed"

	// Checkpoint records.
	AttrCreated   = "kernelevents.evidence.checkpoint.created"
	AttrReceived  = "kernelevents.evidence.checkpoint.received"
	AttrShedTotal = "kernelevents.evidence.checkpoint.shed"
	AttrLost      = "kernelevents.evidence.checkpoint.lost"
	// AttrLostByCg maps the decimal cgroup v2 id of the task whose creation
	// was lost ("0": cgroups past the first 1024) to a map of reason to
	// count; the records shed under LostEvidenceShed, which add up to
	// AttrShedTotal.
	AttrLostByCg = "kernelevents.evidence.checkpoint.lost_by_cgroup"
	AttrFinal    = "kernelevents.evidence.checkpoint.final"
	AttrPrevious = "kernelevents.evidence.checkpoint.previous"
	AttrSigner   = "kernelevents.evidence.checkpoint.signer"
	// AttrSignerChain is, on a checkpoint signed with an X.509 SVID, the
	// SVID's certificate chain, leaf first, each certificate's DER in
	// standard base64.
	AttrSignerChain = "kernelevents.evidence.checkpoint.signer_chain"
	// AttrSignature is the only attribute the canonical form leaves out.
	AttrSignature = "kernelevents.evidence.checkpoint.signature"
)

// LostEvidenceShed is the AttrLostByCg reason of the records the rate limit
// shed.
const LostEvidenceShed = "evidence_shed"

// Event names of the records the chain covers.
const (
	EventCreated    = "kernel.file.created"
	EventGap        = "kernel.evidence.gap"
	EventCheckpoint = "kernel.evidence.checkpoint"
)

// Hash is a SHA-256 of a canonical form.
type Hash [sha256.Size]byte

// String is the hash in lower-case hex, as AttrPrev holds it.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hash in hex.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits", s, 2*len(h))
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}

const (
	magic         = "kernelevents.evidence.v2\x00"
	resourceMagic = "kernelevents.evidence.resource.v2\x00"
)

// Canonical appends the canonical form of lr, on resource res, to b:
//
//	"kernelevents.evidence.v2\x00"
//	str event_name
//	u32 n, then the record's n attribute keys but AttrSignature, in byte
//	    order, each a str
//	u64 time_unix_nano, u64 observed_time_unix_nano, u32 severity_number
//	str severity_text, value body
//	the n attribute values, in the order of their keys
//	the 32 bytes of the resource's digest (ResourceSum)
//
// Integers are big-endian; a str is its u32 byte length then its bytes; a
// value is a tag byte and its payload ('s' str, 'i' i64, 'd' the f64's
// bits, 'b' one byte 0/1, 'y' u32 length and bytes, 'a' u32 count and the
// values, 'm' a map, 'e' empty); a map is its u32 count, its keys (str) in
// byte order, then their values in that order. Everything up to the
// timestamps is the same for the records of one event with the same
// attributes: a hash of it is resumed, not redone, record after record.
func Canonical(b []byte, lr plog.LogRecord, res pcommon.Resource) []byte {
	var h Hasher
	return h.Canonical(b, lr, h.ResourceSum(res))
}

// ResourceCanonical appends the canonical form of a resource to b:
//
//	"kernelevents.evidence.resource.v2\x00"
//	u32 count of K, then for each key k of K in byte order: str k, then the
//	    value of the resource's attribute k, or the byte 'x' when absent
//
// where K is the set of strings in the resource's AttrResourceKeys (empty
// when it has none); the receiver lists AttrResourceKeys itself in it.
func ResourceCanonical(b []byte, res pcommon.Resource) []byte {
	var h Hasher
	return h.ResourceCanonical(b, res)
}

// Sum is the SHA-256 of lr's canonical form.
func Sum(lr plog.LogRecord, res pcommon.Resource) Hash {
	var h Hasher
	return h.Sum(lr, h.ResourceSum(res))
}

// Hasher makes canonical forms and their hashes with scratch space kept
// from one record to the next: no allocation per record once warm. Not
// safe for concurrent use; the zero Hasher is ready. A resource's digest
// (ResourceSum) is made once for all the records on it.
type Hasher struct {
	buf   []byte
	top   mapScratch    // the record's attributes
	maps  []*mapScratch // map values, by nesting depth
	depth int
	names []string
	d     hash.Hash // resumed from a shape's prefix state
	sum   []byte
	// A record's attribute given apart (SumWith): its key, and its
	// string value (nil: none).
	extraKey string
	extra    []byte
}

// ResourceSum is the SHA-256 of res's canonical form (ResourceCanonical):
// the resource's digest in the canonical form of each record on it.
func (h *Hasher) ResourceSum(res pcommon.Resource) Hash {
	h.buf = h.ResourceCanonical(h.buf[:0], res)
	return sha256.Sum256(h.buf)
}

// Sum is the SHA-256 of the canonical form of lr, on the resource whose
// digest is resource.
func (h *Hasher) Sum(lr plog.LogRecord, resource Hash) Hash {
	return h.sumRecord(lr, resource)
}

// SumWith is Sum of lr as it will be once its string attribute key is
// set to value: the receiver hashes a record, then writes its AttrPrev
// with the others' (one string for all the hashes of a batch).
func (h *Hasher) SumWith(lr plog.LogRecord, resource Hash, key string, value []byte) Hash {
	h.extraKey, h.extra = key, value
	sum := h.sumRecord(lr, resource)
	h.extraKey, h.extra = "", nil
	return sum
}

func (h *Hasher) sumRecord(lr plog.LogRecord, resource Hash) Hash {
	sh := h.walkRecord(lr)
	if sh.state == nil { // a shape not remembered: hashed whole
		h.buf = h.rest(append(h.buf[:0], sh.prefix...), lr, sh, resource)
		return sha256.Sum256(h.buf)
	}
	if h.d == nil {
		h.d = sha256.New()
	}
	if err := h.d.(encoding.BinaryUnmarshaler).UnmarshalBinary(sh.state); err != nil {
		panic("chain: resuming SHA-256: " + err.Error()) // a state this Hasher made
	}
	h.buf = h.rest(h.buf[:0], lr, sh, resource)
	h.d.Write(h.buf)
	h.sum = h.d.Sum(h.sum[:0])
	return Hash(h.sum)
}

// Canonical appends the canonical form of lr, on the resource whose digest
// is resource, to b (the package's Canonical).
func (h *Hasher) Canonical(b []byte, lr plog.LogRecord, resource Hash) []byte {
	sh := h.walkRecord(lr)
	return h.rest(append(b, sh.prefix...), lr, sh, resource)
}

// walkRecord encodes lr's attribute values (h.top) and returns the shape
// of its keys, with the canonical form's prefix.
func (h *Hasher) walkRecord(lr plog.LogRecord) *shape {
	sc := &h.top
	event := lr.EventName()
	sh := h.walk(sc, lr.Attributes(), AttrSignature, h.extraKey, event)
	if sh != nil && sh.prefix != nil {
		return sh
	}
	sh = sc.learn(lr.Attributes(), AttrSignature, h.extraKey)
	sh.event = event
	p := append(sh.prefix[:0], magic...)
	p = appendStr(p, event)
	p = appendKeys(p, sh)
	sh.prefix, sh.state = p, nil
	if sh != &sc.big {
		d := sha256.New()
		d.Write(p)
		state, err := d.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic("chain: saving SHA-256: " + err.Error())
		}
		sh.state = state
	}
	return sh
}

// rest appends what follows the prefix: timestamps, severity, body, the
// attribute values walkRecord encoded, and the resource's digest.
func (h *Hasher) rest(b []byte, lr plog.LogRecord, sh *shape, resource Hash) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(lr.Timestamp()))
	b = binary.BigEndian.AppendUint64(b, uint64(lr.ObservedTimestamp()))
	b = binary.BigEndian.AppendUint32(b, uint32(lr.SeverityNumber()))
	b = appendStr(b, lr.SeverityText())
	b = h.appendValue(b, lr.Body())
	b = h.top.appendValues(b, sh)
	return append(b, resource[:]...)
}

// ResourceCanonical appends the canonical form of res to b (the package's
// ResourceCanonical).
func (h *Hasher) ResourceCanonical(b []byte, res pcommon.Resource) []byte {
	b = append(b, resourceMagic...)
	ra := res.Attributes()
	names := h.names[:0]
	if keys, ok := ra.Get(AttrResourceKeys); ok && keys.Type() == pcommon.ValueTypeSlice {
		s := keys.Slice()
		for i := 0; i < s.Len(); i++ {
			if v := s.At(i); v.Type() == pcommon.ValueTypeStr {
				names = append(names, v.Str())
			} else {
				names = append(names, v.AsString())
			}
		}
	}
	if !slices.IsSorted(names) { // the receiver writes them sorted
		slices.Sort(names)
	}
	names = slices.Compact(names)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, k := range names {
		b = appendStr(b, k)
		if v, ok := ra.Get(k); ok {
			b = h.appendValue(b, v)
		} else {
			b = append(b, 'x')
		}
	}
	clear(names)
	h.names = names[:0]
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// mapScratch is the scratch for a map at one nesting depth: its values
// encoded in the map's order, and the byte orders of the last few key
// sequences seen. Records of one event have the same keys in the same
// order, record after record, so the order is sorted once and then
// recognised: comparing a key with the one remembered is a pointer
// comparison when both are the same constant. The values are encoded as
// they come and copied out in key order: no value is held, no key sorted,
// and no pointer written (a pointer written while the garbage collector
// marks costs a write barrier).
type mapScratch struct {
	enc    []byte  // the values' encodings, in the map's order
	ends   []int32 // where each ends in enc
	shapes [4]shape
	next   int   // the shape replaced next
	big    shape // a map too large to remember, sorted each time
}

// shape is a map's keys in its order, and their byte order; for a record's
// attributes also its event and the canonical form's prefix, and the
// SHA-256 state after it (nil for big).
type shape struct {
	keys   []string
	order  []int32
	event  string
	prefix []byte
	state  []byte
}

// maxSorted bounds the maps whose order is remembered; larger ones are
// sorted each time.
const maxSorted = 64

// walk encodes m's values (but skip's) into sc in m's order, with the
// attribute given apart (extraKey, a record's only; Hasher.extra) in its
// place or after them, and returns the remembered shape of event ("" for a
// map value) with those keys, if any.
func (h *Hasher) walk(sc *mapScratch, m pcommon.Map, skip, extraKey, event string) *shape {
	enc, ends := sc.enc[:0], sc.ends[:0]
	var match uint8 // the shapes whose keys begin as the map's so far
	for i := range sc.shapes {
		if sh := &sc.shapes[i]; sh.order != nil && sh.event == event {
			match |= 1 << i
		}
	}
	n, extra := 0, false
	for k, v := range m.All() {
		if skip != "" && k == skip {
			continue
		}
		match = sc.matchKey(match, n, k)
		if extraKey != "" && k == extraKey {
			enc, extra = h.appendExtra(enc), true
		} else {
			enc = h.appendValue(enc, v)
		}
		ends = append(ends, int32(len(enc)))
		n++
	}
	if extraKey != "" && !extra {
		match = sc.matchKey(match, n, extraKey)
		enc = h.appendExtra(enc)
		ends = append(ends, int32(len(enc)))
		n++
	}
	sc.enc, sc.ends = enc, ends
	for i := range sc.shapes {
		if sh := &sc.shapes[i]; match&(1<<i) != 0 && len(sh.keys) == n {
			return sh
		}
	}
	return nil
}

// matchKey clears from match the shapes whose key n is not k.
func (sc *mapScratch) matchKey(match uint8, n int, k string) uint8 {
	for i := range sc.shapes {
		if match&(1<<i) != 0 {
			if sh := &sc.shapes[i]; n >= len(sh.keys) || sh.keys[n] != k {
				match &^= 1 << i
			}
		}
	}
	return match
}

// appendExtra appends the encoding of the string value given apart.
func (h *Hasher) appendExtra(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(append(b, 's'), uint32(len(h.extra)))
	return append(b, h.extra...)
}

// learn returns the shape of m's keys (but skip; with extraKey, as walk
// placed it): remembered, replacing the oldest, unless the map is too
// large.
func (sc *mapScratch) learn(m pcommon.Map, skip, extraKey string) *shape {
	sh := &sc.big
	if len(sc.ends) <= maxSorted {
		sh = &sc.shapes[sc.next]
		sc.next = (sc.next + 1) % len(sc.shapes)
	}
	keys := sh.keys[:0]
	extra := false
	for k := range m.All() {
		if skip == "" || k != skip {
			keys = append(keys, k)
			extra = extra || (extraKey != "" && k == extraKey)
		}
	}
	if extraKey != "" && !extra {
		keys = append(keys, extraKey)
	}
	order := sh.order[:0]
	for i := range keys {
		order = append(order, int32(i))
	}
	slices.SortStableFunc(order, func(x, y int32) int { return strings.Compare(keys[x], keys[y]) })
	if order == nil {
		order = []int32{} // a remembered empty shape
	}
	sh.keys, sh.order, sh.event, sh.state = keys, order, "", nil
	return sh
}

// appendKeys appends the u32 count and the keys of sh in byte order.
func appendKeys(b []byte, sh *shape) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(sh.order)))
	for _, i := range sh.order {
		b = appendStr(b, sh.keys[i])
	}
	return b
}

// appendValues appends the values walk encoded, in the byte order of their
// keys.
func (sc *mapScratch) appendValues(b []byte, sh *shape) []byte {
	for _, i := range sh.order {
		start := int32(0)
		if i > 0 {
			start = sc.ends[i-1]
		}
		b = append(b, sc.enc[start:sc.ends[i]]...)
	}
	return b
}

func (h *Hasher) appendMap(b []byte, m pcommon.Map) []byte {
	if h.depth == len(h.maps) {
		h.maps = append(h.maps, &mapScratch{})
	}
	sc := h.maps[h.depth]
	h.depth++ // a map value's map uses the next depth's scratch
	sh := h.walk(sc, m, "", "", "")
	h.depth--
	if sh == nil {
		sh = sc.learn(m, "", "")
	}
	return sc.appendValues(appendKeys(b, sh), sh)
}

func (h *Hasher) appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendStr(append(b, 's'), v.Str())
	case pcommon.ValueTypeInt:
		return binary.BigEndian.AppendUint64(append(b, 'i'), uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(b, 'b', 1)
		}
		return append(b, 'b', 0)
	case pcommon.ValueTypeBytes:
		raw := v.Bytes().AsRaw()
		b = binary.BigEndian.AppendUint32(append(b, 'y'), uint32(len(raw)))
		return append(b, raw...)
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = binary.BigEndian.AppendUint32(append(b, 'a'), uint32(s.Len()))
		for i := 0; i < s.Len(); i++ {
			b = h.appendValue(b, s.At(i))
		}
		return b
	case pcommon.ValueTypeMap:
		return h.appendMap(append(b, 'm'), v.Map())
	default:
		return append(b, 'e')
	}
}

// signContext precedes the hash in what a checkpoint's signature signs.
const signContext = "kernelevents.evidence.checkpoint.v1\x00"

// SignerPrefix precedes the hex public key in AttrSigner for a file key.
const SignerPrefix = "ed25519:"

// SVIDSignerPrefix precedes the SPIFFE ID in AttrSigner for a checkpoint
// signed with the key of an X.509 SVID (AttrSignerChain holds the SVID).
const SVIDSignerPrefix = "x509-svid:"

// SignedMessage is what a checkpoint's signature signs: a context string
// and the SHA-256 of the checkpoint's canonical form (the chain head the
// next record names).
func SignedMessage(h Hash) []byte {
	return append([]byte(signContext), h[:]...)
}

// Sign signs the checkpoint whose canonical form hashes to h: AttrSigner
// and AttrSignature values.
func Sign(key ed25519.PrivateKey, h Hash) (signer, signature string) {
	pub := key.Public().(ed25519.PublicKey)
	return SignerPrefix + hex.EncodeToString(pub), hex.EncodeToString(ed25519.Sign(key, SignedMessage(h)))
}

// SVIDSigner is what AttrSigner and AttrSignerChain hold for an X.509
// SVID with the SPIFFE ID id and the certificate chain certs (leaf first):
// both are set before the checkpoint is hashed, so the signature covers them.
func SVIDSigner(id string, certs []*x509.Certificate) (signer string, chain []string) {
	chain = make([]string, len(certs))
	for i, c := range certs {
		chain[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return SVIDSignerPrefix + id, chain
}

// SignSVID signs the checkpoint whose canonical form hashes to h with an
// SVID's key: ECDSA (ASN.1 DER) or RSA (PKCS #1 v1.5) over the SHA-256 of
// SignedMessage, or Ed25519 over SignedMessage itself; hex.
func SignSVID(key crypto.Signer, h Hash) (string, error) {
	msg := SignedMessage(h)
	var sig []byte
	var err error
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		sig, err = key.Sign(rand.Reader, msg, crypto.Hash(0))
	} else {
		d := sha256.Sum256(msg)
		sig, err = key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sig), nil
}

// ErrUnsigned is returned by Verify for a checkpoint without a signature.
var ErrUnsigned = errors.New("checkpoint not signed")

// Trust is what the verifier trusts; zero: each checkpoint is checked
// against the key it names (integrity, not who signed).
type Trust struct {
	// Key: checkpoints signed with a file key must be signed with this one.
	Key ed25519.PublicKey
	// Roots: checkpoints signed with an X.509 SVID must carry a chain that
	// verifies to these roots (a SPIFFE trust bundle) at the checkpoint's
	// time.
	Roots *x509.CertPool
}

// Signature is a checkpoint's signature and what names its signer, as
// written.
type Signature struct {
	Signer, Value string
	Chain         []string  // AttrSignerChain
	Time          time.Time // the checkpoint's time: an SVID must be valid then
}

// Verify checks the signature of the checkpoint whose canonical form hashes
// to h. With trust set, a checkpoint signed by a scheme that trust does not
// name fails.
func Verify(h Hash, sig Signature, trust Trust) error {
	if sig.Value == "" {
		return ErrUnsigned
	}
	raw, err := hex.DecodeString(sig.Value)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if id, ok := strings.CutPrefix(sig.Signer, SVIDSignerPrefix); ok {
		return verifySVID(h, id, sig, raw, trust)
	}
	hexKey, ok := strings.CutPrefix(sig.Signer, SignerPrefix)
	if !ok {
		return fmt.Errorf("signer %q: neither %s<hex key> nor %s<SPIFFE ID>", sig.Signer, SignerPrefix, SVIDSignerPrefix)
	}
	pub, err := hex.DecodeString(hexKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("signer %q: not an Ed25519 public key", sig.Signer)
	}
	switch {
	case trust.Key != nil && !trust.Key.Equal(ed25519.PublicKey(pub)):
		return fmt.Errorf("signed by %s, not the trusted key", sig.Signer)
	case trust.Key == nil && trust.Roots != nil:
		return fmt.Errorf("signed by the file key %s, not by an SVID of the trust bundle", sig.Signer)
	}
	if !ed25519.Verify(pub, SignedMessage(h), raw) {
		return errors.New("signature does not match")
	}
	return nil
}

func verifySVID(h Hash, id string, sig Signature, raw []byte, trust Trust) error {
	if len(sig.Chain) == 0 {
		return fmt.Errorf("signer %q: no %s", sig.Signer, AttrSignerChain)
	}
	certs := make([]*x509.Certificate, len(sig.Chain))
	for i, c := range sig.Chain {
		der, err := base64.StdEncoding.DecodeString(c)
		if err == nil {
			certs[i], err = x509.ParseCertificate(der)
		}
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", AttrSignerChain, i, err)
		}
	}
	leaf := certs[0]
	named := false
	for _, u := range leaf.URIs {
		named = named || u.String() == id
	}
	if !named {
		return fmt.Errorf("signer %q: the certificate is not an SVID of %s", sig.Signer, id)
	}
	switch {
	case trust.Roots != nil:
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: trust.Roots, Intermediates: inter, CurrentTime: sig.Time,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("signer %s: not an SVID of the trust bundle at %s: %w", id, sig.Time.UTC().Format(time.RFC3339), err)
		}
	case trust.Key != nil:
		return fmt.Errorf("signed by the SVID %s, not the trusted key", id)
	}
	msg := SignedMessage(h)
	d := sha256.Sum256(msg)
	ok := false
	switch pub := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, d[:], raw)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], raw) == nil
	case ed25519.PublicKey:
		ok = ed25519.Verify(pub, msg, raw)
	default:
		return fmt.Errorf("signer %s: a %T key", id, pub)
	}
	if !ok {
		return errors.New("signature does not match")
	}
	return nil
}

// ReadTrustBundle reads a SPIFFE trust bundle's X.509 roots from PEM
// certificates (spire-server bundle show).
func ReadTrustBundle(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, pemBytes = pem.Decode(pemBytes)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return pool, nil
}

// ReadPrivateKey reads an Ed25519 private key from PEM (PKCS #8, "PRIVATE
// KEY": openssl genpkey -algorithm ed25519).
func ReadPrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, not Ed25519", k)
	}
	return ek, nil
}

// ReadPublicKey reads an Ed25519 public key from PEM (PKIX, "PUBLIC KEY":
// openssl pkey -pubout).
func ReadPublicKey(pemBytes []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, not Ed25519", k)
	}
	return ek, nil
}

// Form builds the canonical form of a record from the values its producer
// writes into it, without reading the record back: Sum gives the hash that
// Hasher.Sum gives of the record as written (the receiver's records are
// cold in the cache by the time a batch is chained; the values are hot
// when they are written). The values must be given exactly as the record
// holds them, every attribute but AttrSignature; one string attribute,
// the hole, is given only at Sum (AttrPrev: known when the chain reaches
// the record). Not safe for concurrent use; the zero Form is ready, and a
// nil *Form takes values and does nothing (a producer without the chain).
type Form struct {
	// cand is the shape the record's keys so far match (the one found
	// last), -1 when none; then keys holds them. A key matched is a
	// comparison with a constant, not a string kept: no pointer written,
	// no write barrier while the garbage collector marks.
	cand int
	n    int      // the keys given so far
	keys []string // the record's keys as given, when cand < 0
	// The values' encodings in the order given, enc[:m], value i ending at
	// ends[i]: written in place, so that neither slice header is stored
	// again (a slice stored is a pointer written: a write barrier).
	enc    []byte
	m      int
	ends   [MaxFormKeys]int32
	hole   int    // the hole's index in keys; -1: none
	event  string // when cand < 0
	shapes []formShape
	last   int // the shape found last, tried first
	d      hash.Hash
	sum    []byte
	buf    []byte // what Sum hashes after the prefix
}

// formShape is a record shape Form has seen: its event and keys as given,
// their byte order, the hole's place in it, and the SHA-256 state after
// the canonical form's prefix.
type formShape struct {
	event string
	keys  []string
	order []int32
	hole  int // values before the hole in byte order
	state []byte
}

// MaxFormKeys bounds the attributes of a record Form takes; past them End
// says to hash the record itself.
const MaxFormKeys = 64

// MaxFormShapes bounds the shapes a Form remembers (never forgotten, so
// that a shape's number stays valid); past them End says to hash the
// record itself.
const MaxFormShapes = 64

// Begin starts a record of event.
func (f *Form) Begin(event string) {
	f.cand, f.n, f.m, f.hole = -1, 0, 0, -1
	if f.last < len(f.shapes) && f.shapes[f.last].event == event {
		f.cand = f.last
	} else {
		f.event, f.keys = event, f.keys[:0]
	}
}

// room returns the next n bytes of enc to write a value into.
func (f *Form) room(n int) []byte {
	if f.m+n > len(f.enc) {
		g := slices.Grow(f.enc[:f.m], n+1024)
		f.enc = g[:cap(g)]
	}
	f.m += n
	return f.enc[f.m-n : f.m]
}

// field ends the value of key, just written.
func (f *Form) field(key string) {
	if f.n < len(f.ends) {
		f.ends[f.n] = int32(f.m)
	}
	if f.cand >= 0 {
		if s := &f.shapes[f.cand]; f.n < len(s.keys) && s.keys[f.n] == key {
			f.n++
			return
		}
		// Not that shape: the keys so far are its.
		s := &f.shapes[f.cand]
		f.event, f.keys, f.cand = s.event, append(f.keys[:0], s.keys[:f.n]...), -1
	}
	f.keys = append(f.keys, key)
	f.n++
}

// str writes a str: its u32 length and bytes.
func (f *Form) str(tag byte, v string) {
	b := f.room(5 + len(v))
	b[0] = tag
	binary.BigEndian.PutUint32(b[1:], uint32(len(v)))
	copy(b[5:], v)
}

// Str gives a string attribute.
func (f *Form) Str(key, v string) {
	if f == nil {
		return
	}
	f.str('s', v)
	f.field(key)
}

// Int gives an int attribute.
func (f *Form) Int(key string, v int64) {
	if f == nil {
		return
	}
	b := f.room(9)
	b[0] = 'i'
	binary.BigEndian.PutUint64(b[1:], uint64(v))
	f.field(key)
}

// Bool gives a bool attribute.
func (f *Form) Bool(key string, v bool) {
	if f == nil {
		return
	}
	b := f.room(2)
	b[0], b[1] = 'b', 0
	if v {
		b[1] = 1
	}
	f.field(key)
}

// Strs gives a slice attribute of strings.
func (f *Form) Strs(key string, v []string) {
	if f == nil {
		return
	}
	b := f.room(5)
	b[0] = 'a'
	binary.BigEndian.PutUint32(b[1:], uint32(len(v)))
	for _, s := range v {
		f.str('s', s)
	}
	f.field(key)
}

// Hole gives the string attribute whose value Sum is given.
func (f *Form) Hole(key string) {
	if f == nil {
		return
	}
	f.hole = f.n
	f.field(key)
}

// End appends to b what of the record's canonical form follows the prefix
// and precedes the resource's digest (timestamps, severity, a string body,
// the values in the byte order of their keys), but for the hole's value,
// which goes at b's length hole: the record's shape, for Sum; -1 when past
// MaxFormShapes or without a hole (then hash the record itself).
func (f *Form) End(b []byte, timestamp, observed uint64, severity int32, severityText, body string) (out []byte, shape, hole int) {
	sh := f.shape()
	if sh < 0 {
		return b, -1, 0
	}
	s := &f.shapes[sh]
	b = binary.BigEndian.AppendUint64(b, timestamp)
	b = binary.BigEndian.AppendUint64(b, observed)
	b = binary.BigEndian.AppendUint32(b, uint32(severity))
	b = appendStr(b, severityText)
	b = appendStr(append(b, 's'), body)
	for n, i := range s.order {
		if n == s.hole {
			hole = len(b)
		}
		if int(i) == f.hole {
			continue
		}
		start := int32(0)
		if i > 0 {
			start = f.ends[i-1]
		}
		b = append(b, f.enc[start:f.ends[i]]...)
	}
	return b, sh, hole
}

// shape returns the number of the record's shape, learnt if new; -1 past
// MaxFormShapes or without a hole.
func (f *Form) shape() int {
	if f.hole < 0 || f.n > len(f.ends) {
		return -1
	}
	if f.cand >= 0 && f.n == len(f.shapes[f.cand].keys) {
		return f.cand
	}
	if f.cand >= 0 { // fewer keys than the shape's
		s := &f.shapes[f.cand]
		f.event, f.keys, f.cand = s.event, append(f.keys[:0], s.keys[:f.n]...), -1
	}
	for i := range f.shapes {
		j := (f.last + i) % len(f.shapes)
		if s := &f.shapes[j]; s.event == f.event && slices.Equal(s.keys, f.keys) {
			f.last = j
			return j
		}
	}
	if len(f.shapes) >= MaxFormShapes {
		return -1
	}
	keys := slices.Clone(f.keys)
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(x, y int32) int { return strings.Compare(keys[x], keys[y]) })
	s := formShape{event: f.event, keys: keys, order: order}
	s.hole = slices.Index(order, int32(f.hole))
	p := appendStr(append([]byte(nil), magic...), f.event)
	p = binary.BigEndian.AppendUint32(p, uint32(len(order)))
	for _, i := range order {
		p = appendStr(p, keys[i])
	}
	d := sha256.New()
	d.Write(p)
	state, err := d.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("chain: saving SHA-256: " + err.Error())
	}
	s.state = state
	f.shapes = append(f.shapes, s)
	f.last = len(f.shapes) - 1
	return f.last
}

// Sum is the SHA-256 of the canonical form of the record of shape whose
// End gave rest, with hole's value at hole, on the resource whose digest
// is resource.
func (f *Form) Sum(shape int, rest []byte, hole int, value []byte, resource Hash) Hash {
	if f.d == nil {
		f.d = sha256.New()
	}
	if err := f.d.(encoding.BinaryUnmarshaler).UnmarshalBinary(f.shapes[shape].state); err != nil {
		panic("chain: resuming SHA-256: " + err.Error()) // a state this Form made
	}
	// One write of the whole: SHA-256 takes whole blocks best.
	b := append(f.buf[:0], rest[:hole]...)
	b = binary.BigEndian.AppendUint32(append(b, 's'), uint32(len(value)))
	b = append(b, value...)
	b = append(b, rest[hole:]...)
	f.buf = append(b, resource[:]...)
	f.d.Write(f.buf)
	f.sum = f.d.Sum(f.sum[:0])
	return Hash(f.sum)
}
