using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Backends;

/// <summary>The element-wise ops as kernels over the device's launch layout (Kernels/ElementwiseKernels.cs), closed
/// with a family's kernel view.</summary>
internal sealed class KernelElementwise<TView>(ComputeDevice device) : IElementwise
    where TView : struct, IKernelView<TView>
{
    private ElementwiseKernelSet<TView> K => device.Kernels<ElementwiseKernelSet<TView>>();

    public void Relu(DeviceTensor x, DeviceTensor y) => Unary(K.Relu, x, 0f, y);

    public void Scale(DeviceTensor x, float s, DeviceTensor y) => Unary(K.Scale, x, s, y);

    public void Fill(DeviceTensor t, float value) => Unary(K.Fill, t, value, t);

    public void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y) => Binary(K.Add, a, b, 0f, y);

    public void Multiply(DeviceTensor a, DeviceTensor b, DeviceTensor y) => Binary(K.Multiply, a, b, 0f, y);

    public void AddScaled(DeviceTensor a, float s, DeviceTensor b, DeviceTensor y) => Binary(K.AddScaled, a, b, s, y);

    public void ReluBackward(DeviceTensor gradOutput, DeviceTensor output, DeviceTensor gradInput) =>
        Binary(K.ReluBackward, gradOutput, output, 0f, gradInput);

    private void Unary(Action<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout> kernel, DeviceTensor x, float p, DeviceTensor y)
    {
        var layout = device.Layout(x.Length);
        kernel(layout.Threads, y.View, x.View, p, layout);
    }

    private void Binary(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout> kernel, DeviceTensor a, DeviceTensor b,
        float p, DeviceTensor y)
    {
        var layout = device.Layout(a.Length);
        kernel(layout.Threads, y.View, a.View, b.View, p, layout);
    }
}
