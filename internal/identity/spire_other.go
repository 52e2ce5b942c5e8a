// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package identity

// Elsewhere there is no process to check.
func (p *procView) still(procIdentity) SPIFFEStatus { return SPIFFEProcessGone }
