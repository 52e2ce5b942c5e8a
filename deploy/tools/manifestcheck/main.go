package main

import (
	"fmt"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
)

func main() {
	fmt.Println(legacyscheme.Scheme != nil, appsvalidation.ValidateDaemonSet != nil, rbacvalidation.ValidateClusterRole != nil)
}
