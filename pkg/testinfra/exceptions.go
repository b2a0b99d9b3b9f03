package testinfra

import "github.com/isthmus/isthmus/pkg/contracts"

// ExceptionUpdates lists the published states of exception id among xs
// (ops.exceptions.v1 values in the order read), each as "STATUS/decision":
// the decision id it answers, empty when it answers none.
func ExceptionUpdates[X contracts.OperationalException | *contracts.OperationalException](xs []X, id string) []string {
	var out []string
	for _, x := range xs {
		var p *contracts.OperationalException
		switch v := any(x).(type) {
		case contracts.OperationalException:
			p = &v
		case *contracts.OperationalException:
			p = v
		}
		if p.ExceptionID == id {
			out = append(out, p.Status+"/"+contracts.Deref(p.DecisionID))
		}
	}
	return out
}
