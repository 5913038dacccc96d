using AttentionWise.Host;
using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>The cpu device's dense op: with a BLAS, the products as BLAS calls split over the host launcher's threads
/// (<see cref="HostLinear"/>, run as host passes) and the ReLU as a scalar pass; without one (or with the host passes
/// off), the kernels of <see cref="KernelDense{TView}"/> on the host launcher.</summary>
internal sealed unsafe class HostDense(ComputeDevice device, bool usesBlas) : IDense
{
    private readonly KernelDense<HostView> _kernels = new(device);

    public bool RunsOnHost => usesBlas;

    public void Forward(DeviceTensor x, DeviceTensor weight, DeviceTensor? bias, DeviceTensor y, DenseOutput output, DenseWorkspace workspace)
    {
        if (!usesBlas)
        {
            _kernels.Forward(x, weight, bias, y, output, workspace);
            return;
        }
        int n = y.Shape.N, inFeatures = weight.Shape[1], outFeatures = weight.Shape[0];
        if (n == 0)
            return;
        device.Loader.Pass("HostLinear.Forward", () => HostLinear.Forward(n, inFeatures, outFeatures, x.HostPointer, weight.HostPointer,
            bias is null ? null : bias.HostPointer, y.HostPointer, accumulate: output == DenseOutput.Accumulate));
        if (output == DenseOutput.Relu)
            device.Loader.Pass("HostLinear.Relu", () => HostLinear.Relu(y.HostPointer, y.Length));
    }

    public void InputGradient(DeviceTensor gy, DeviceTensor weight, DeviceTensor gx, DeviceTensor? reluOutput = null)
    {
        if (!usesBlas)
        {
            _kernels.InputGradient(gy, weight, gx, reluOutput);
            return;
        }
        int n = gy.Shape.N, inFeatures = weight.Shape[1], outFeatures = weight.Shape[0];
        if (n == 0)
            return;
        device.Loader.Pass("HostLinear.InputGradient", () => HostLinear.InputGradient(n, inFeatures, outFeatures, gy.HostPointer, weight.HostPointer,
            gx.HostPointer));
        if (reluOutput is not null)
            device.Loader.Pass("HostLinear.ReluMask", () => HostLinear.ReluMask(gx.HostPointer, reluOutput.HostPointer, gx.Length));
    }

    public void WeightGradient(DeviceTensor x, DeviceTensor gy, DeviceTensor gradWeight, DeviceTensor? gradBias, DenseWorkspace workspace)
    {
        if (!usesBlas)
        {
            _kernels.WeightGradient(x, gy, gradWeight, gradBias, workspace);
            return;
        }
        int n = gy.Shape.N, inFeatures = gradWeight.Shape[1], outFeatures = gradWeight.Shape[0];
        if (n == 0)
            return;
        device.Loader.Pass("HostLinear.WeightGradient", () => HostLinear.WeightGradient(n, inFeatures, outFeatures, x.HostPointer, gy.HostPointer,
            gradWeight.HostPointer));
        if (gradBias is not null)
            ChannelReductions.Sum(gy, gradBias, accumulate: true, workspace.Reduction);
    }
}
