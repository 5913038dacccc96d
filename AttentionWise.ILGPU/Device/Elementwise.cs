using AttentionWise.Kernels;
using ILGPU;

namespace AttentionWise;

/// <summary>Element-wise operations on device tensors (host side of <see cref="ElementwiseKernels"/>).
/// Outputs may alias inputs.</summary>
public static class Elementwise
{
    /// <summary>y = max(x, 0) (NaN kept). The cpu device with host passes runs it as vectorised host code.</summary>
    public static unsafe void Relu(DeviceTensor x, DeviceTensor y)
    {
        if (Host.HostPasses.VectorOn(x.Device))
        {
            Shape.Require(x.Shape, y.Shape, "Relu output");
            if (x.Length > 0)
                Host.HostElementwise.Relu(Host.HostPasses.Width(x.Device), x.Length, x.HostPointer, y.HostPointer);
            return;
        }
        Unary(x.Device.Kernels<ElementwiseKernelSet>().Relu, x, 0f, y, "Relu");
    }

    /// <summary>y = s · x.</summary>
    public static void Scale(DeviceTensor x, float s, DeviceTensor y) => Unary(x.Device.Kernels<ElementwiseKernelSet>().Scale, x, s, y, "Scale");

    /// <summary>t = value everywhere.</summary>
    public static void Fill(DeviceTensor t, float value) => Unary(t.Device.Kernels<ElementwiseKernelSet>().Fill, t, value, t, "Fill");

    /// <summary>y = a + b. The cpu device with host passes runs it as vectorised host code.</summary>
    public static unsafe void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y)
    {
        if (Host.HostPasses.VectorOn(a.Device))
        {
            Shape.Require(a.Shape, b.Shape, "Add second operand");
            Shape.Require(a.Shape, y.Shape, "Add output");
            if (a.Length > 0)
                Host.HostElementwise.Add(Host.HostPasses.Width(a.Device), a.Length, a.HostPointer, b.HostPointer, y.HostPointer);
            return;
        }
        Binary(a.Device.Kernels<ElementwiseKernelSet>().Add, a, b, 0f, y, "Add");
    }

    /// <summary>y = a ⊙ b.</summary>
    public static void Multiply(DeviceTensor a, DeviceTensor b, DeviceTensor y) => Binary(a.Device.Kernels<ElementwiseKernelSet>().Multiply, a, b, 0f, y, "Multiply");

    /// <summary>y = a + s · b (with y = a: accumulate).</summary>
    public static void AddScaled(DeviceTensor a, float s, DeviceTensor b, DeviceTensor y) => Binary(a.Device.Kernels<ElementwiseKernelSet>().AddScaled, a, b, s, y, "AddScaled");

    /// <summary>gradInput = gradOutput where output &gt; 0, else 0 (ReLU backward from the ReLU's output).</summary>
    public static unsafe void ReluBackward(DeviceTensor gradOutput, DeviceTensor output, DeviceTensor gradInput)
    {
        if (Host.HostPasses.VectorOn(gradOutput.Device))
        {
            Shape.Require(gradOutput.Shape, output.Shape, "ReluBackward second operand");
            Shape.Require(gradOutput.Shape, gradInput.Shape, "ReluBackward output");
            if (gradOutput.Length > 0)
                Host.HostElementwise.ReluBackward(Host.HostPasses.Width(gradOutput.Device), gradOutput.Length, gradOutput.HostPointer, output.HostPointer,
                    gradInput.HostPointer);
            return;
        }
        Binary(gradOutput.Device.Kernels<ElementwiseKernelSet>().ReluBackward, gradOutput, output, 0f, gradInput, "ReluBackward");
    }

    private static void Unary(Action<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout> kernel, DeviceTensor x, float p, DeviceTensor y, string what)
    {
        Shape.Require(x.Shape, y.Shape, $"{what} output");
        if (x.Length == 0)
            return;
        var layout = x.Device.Layout(x.Length);
        kernel(layout.Threads, y.View, x.View, p, layout);
    }

    private static void Binary(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout> kernel, DeviceTensor a, DeviceTensor b, float p, DeviceTensor y, string what)
    {
        Shape.Require(a.Shape, b.Shape, $"{what} second operand");
        Shape.Require(a.Shape, y.Shape, $"{what} output");
        if (a.Length == 0)
            return;
        var layout = a.Device.Layout(a.Length);
        kernel(layout.Threads, y.View, a.View, b.View, p, layout);
    }
}
