// One op on device tensors inside your own program: element-wise attention heads, forward and backward, on a
// ComputeDevice. The backward pass's input gradient is checked against a finite difference of the forward pass.
//   dotnet run -- [cpu|cuda|opencl|cpu-sim]        (default: the best device there is)
using AttentionWise;
using AttentionWise.Layers;

using var device = ComputeDevice.Open(args.Length > 0 ? args[0] : null);
const int n = 4, channels = 3, height = 5, width = 6, heads = 2;
using var attention = new AttentionHeads(device, channels, height, width, heads);
Init.Apply(attention, new Rng(42));          // Wx, Wy ~ N(0, 0.02²)

var rng = new Random(1);
float[] Random(int length, double scale) => Enumerable.Range(0, length).Select(_ => (float)(scale * (rng.NextDouble() * 2 - 1))).ToArray();
var inputShape = Shape.Of(n, channels, height, width);
float[] x = Random(inputShape.Length, 1.0);
using var input = device.Upload(inputShape, x);

// Forward: Z [N, K·C, H, W] = X ⊙ batchnorm(softmax_rows(X⊙Wx) ⊙ softmax_columns(X⊙Wy)), per head.
var z = attention.Forward(input);
Console.WriteLine($"device {device.Name}: X {input.Shape} -> Z {z.Shape}");
float[] output = z.Download();

// Backward with an upstream gradient G: dL/dX and dL/dWx, dL/dWy for L = Σ G ⊙ Z.
float[] g = Random(output.Length, 1.0);
using var gradOutput = device.Upload(z.Shape, g);
attention.ZeroGrad();
var gradInput = attention.Backward(gradOutput)!.Download();
Console.WriteLine($"|dL/dX| = {Norm(gradInput):F5}, |dL/dWx| = {Norm(attention.Wx.Gradient.Download()):F5}, |dL/dWy| = {Norm(attention.Wy.Gradient.Download()):F5}");

// Check: the directional derivative along a random direction D, from the gradient and from two forward passes.
float[] d = Random(x.Length, 1.0);
const float eps = 1e-2f;
double Loss(float sign)
{
    input.Upload(x.Select((v, i) => v + sign * eps * d[i]).ToArray());
    var zz = attention.Forward(input).Download();
    return zz.Select((v, i) => (double)v * g[i]).Sum();
}
double numeric = (Loss(+1) - Loss(-1)) / (2 * eps);
double analytic = gradInput.Select((v, i) => (double)v * d[i]).Sum();
double error = Math.Abs(numeric - analytic) / Math.Max(1e-6, Math.Abs(numeric));
Console.WriteLine($"directional derivative: backward {analytic:F5}, finite difference {numeric:F5}, relative error {error:E2}");
return error < 2e-2 ? 0 : 1;

static double Norm(float[] v) => Math.Sqrt(v.Sum(e => (double)e * e));
