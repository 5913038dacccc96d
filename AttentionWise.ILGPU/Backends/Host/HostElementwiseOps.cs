using AttentionWise.Host;
using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>The cpu device's element-wise ops: with its host passes on, the ReLU, its backward and the addition (the
/// ones a training step shows) as vectorised passes at the device's vector width (<see cref="HostElementwise"/>); every
/// other op, and every op with the host passes off, as the kernels on the host launcher.</summary>
internal sealed unsafe class HostElementwiseOps(ComputeDevice device, bool passes, SimdWidth width) : IElementwise
{
    private readonly KernelElementwise<HostView> _kernels = new(device);

    public void Relu(DeviceTensor x, DeviceTensor y)
    {
        if (passes)
            device.Loader.Pass("HostElementwise.Relu", () => HostElementwise.Relu(width, x.Length, x.HostPointer, y.HostPointer));
        else
            _kernels.Relu(x, y);
    }

    public void Scale(DeviceTensor x, float s, DeviceTensor y) => _kernels.Scale(x, s, y);

    public void Fill(DeviceTensor t, float value) => _kernels.Fill(t, value);

    public void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y)
    {
        if (passes)
            device.Loader.Pass("HostElementwise.Add", () => HostElementwise.Add(width, a.Length, a.HostPointer, b.HostPointer, y.HostPointer));
        else
            _kernels.Add(a, b, y);
    }

    public void Multiply(DeviceTensor a, DeviceTensor b, DeviceTensor y) => _kernels.Multiply(a, b, y);

    public void AddScaled(DeviceTensor a, float s, DeviceTensor b, DeviceTensor y) => _kernels.AddScaled(a, s, b, y);

    public void ReluBackward(DeviceTensor gradOutput, DeviceTensor output, DeviceTensor gradInput)
    {
        if (passes)
            device.Loader.Pass("HostElementwise.ReluBackward", () => HostElementwise.ReluBackward(width, gradOutput.Length, gradOutput.HostPointer,
                output.HostPointer, gradInput.HostPointer));
        else
            _kernels.ReluBackward(gradOutput, output, gradInput);
    }
}
