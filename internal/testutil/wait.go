// SPDX-License-Identifier: Apache-2.0

package testutil

// OpWaitGone keeps the child alive until the file Path (relative to Dir, or
// absolute) no longer exists, at most a minute: the test removes it once
// user space has looked the child up (for example asked a SPIRE agent about
// its pid).
const OpWaitGone = "wait_gone"
