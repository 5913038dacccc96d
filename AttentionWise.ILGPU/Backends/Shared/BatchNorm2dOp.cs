using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>Batch normalisation as kernels (Kernels/BatchNorm2dKernels.cs): a thread per channel for the coefficients,
/// per (item, channel) plane for the element passes; the same code for both families, closed with each family's view.</summary>
internal sealed class BatchNorm2dOp<TView>(ComputeDevice device) : IBatchNorm
    where TView : struct, IKernelView<TView>
{
    private BatchNorm2dKernelSet<TView> K => device.Kernels<BatchNorm2dKernelSet<TView>>();

    public void Coefficients(DeviceTensor coef, DeviceTensor runningMean, DeviceTensor runningVar, DeviceTensor mean, DeviceTensor variance, DeviceTensor gamma,
        DeviceTensor beta, BatchNormPass pass) =>
        K.Prepare(pass.Channels, coef.View, runningMean.View, runningVar.View, mean.View, variance.View, gamma.View, beta.View, pass.Channels,
            pass.Affine ? 1 : 0, pass.Training ? 1 : 0, pass.Momentum, pass.Eps, pass.Unbias);

    public void Normalize(DeviceTensor y, DeviceTensor x, DeviceTensor coef, int channels, int spatial)
    {
        int planes = x.Shape.N * channels;
        if (planes > 0)
            K.Normalize(planes, y.View, x.View, coef.View, channels, spatial);
    }

    public void BackwardCoefficients(DeviceTensor back, DeviceTensor gradGamma, DeviceTensor gradBeta, DeviceTensor coef, DeviceTensor sumG, DeviceTensor sumGx,
        DeviceTensor gamma, BatchNormPass pass, float count) =>
        K.PrepareBackward(pass.Channels, back.View, gradGamma.View, gradBeta.View, coef.View, sumG.View, sumGx.View, gamma.View, pass.Channels,
            pass.Affine ? 1 : 0, pass.Training ? 1 : 0, count);

    public void BackwardInput(DeviceTensor gx, DeviceTensor gy, DeviceTensor x, DeviceTensor back, int channels, int spatial)
    {
        int planes = x.Shape.N * channels;
        if (planes > 0)
            K.BackwardInput(planes, gx.View, gy.View, x.View, back.View, channels, spatial);
    }
}
