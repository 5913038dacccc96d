using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>The dense op as kernels (Kernels/LinearKernels.cs), closed with a family's kernel view: one thread per four
/// outputs of an item for the product, per chunk of inputs for the input gradient, and per 4 × 2 weights, looping over
/// the batch, for the weight gradient; the ReLU and the accumulation run as element-wise kernels after the product.
/// The cpu device runs it when it runs no BLAS; <see cref="GpuDense"/> cuts long products into slices.</summary>
internal class KernelDense<TView>(ComputeDevice device) : IDense
    where TView : struct, IKernelView<TView>
{
    protected ComputeDevice Device => device;

    public bool RunsOnHost => false;

    public void Forward(DeviceTensor x, DeviceTensor weight, DeviceTensor? bias, DeviceTensor y, DenseOutput output, DenseWorkspace workspace)
    {
        int n = y.Shape.N, inFeatures = weight.Shape[1], outFeatures = weight.Shape[0];
        if (n == 0)
            return;
        var target = output == DenseOutput.Accumulate ? workspace.Product(y.Shape) : y;
        device.Work(2.0 * n * inFeatures * outFeatures);
        Product(x, weight, bias, target, n, inFeatures, outFeatures, workspace);
        if (output == DenseOutput.Write)
            return;
        var e = device.Kernels<ElementwiseKernelSet<TView>>();
        var layout = device.Layout(y.Length);
        if (output == DenseOutput.Relu)
            e.Relu(layout.Threads, y.View, y.View, 0f, layout);
        else
            e.Add(layout.Threads, y.View, y.View, target.View, 0f, layout);
    }

    /// <summary>y = x·wᵀ + b over the whole input row per thread.</summary>
    protected virtual void Product(DeviceTensor x, DeviceTensor weight, DeviceTensor? bias, DeviceTensor y, int n, int inFeatures, int outFeatures,
        DenseWorkspace workspace) =>
        device.Kernels<LinearKernelSet<TView>>().Forward(new Index2D((outFeatures + 3) / 4, n), y.View, x.View, weight.View, (bias ?? weight).View,
            inFeatures, outFeatures, bias is null ? 0 : 1);

    public void InputGradient(DeviceTensor gy, DeviceTensor weight, DeviceTensor gx, DeviceTensor? reluOutput = null)
    {
        int n = gy.Shape.N, inFeatures = weight.Shape[1], outFeatures = weight.Shape[0];
        if (n == 0)
            return;
        device.Work(2.0 * n * inFeatures * outFeatures);
        device.Kernels<LinearKernelSet<TView>>().BackwardInput(new Index2D((inFeatures + LinearKernels.ChunkI - 1) / LinearKernels.ChunkI, n),
            gx.View, gy.View, weight.View, inFeatures, outFeatures);
        if (reluOutput is null)
            return;
        var layout = device.Layout(gx.Length);
        device.Kernels<ElementwiseKernelSet<TView>>().ReluBackward(layout.Threads, gx.View, gx.View, reluOutput.View, 0f, layout);
    }

    public void WeightGradient(DeviceTensor x, DeviceTensor gy, DeviceTensor gradWeight, DeviceTensor? gradBias, DenseWorkspace workspace)
    {
        int n = gy.Shape.N, inFeatures = gradWeight.Shape[1], outFeatures = gradWeight.Shape[0];
        if (n == 0)
            return;
        WeightProduct(x, gy, gradWeight, n, inFeatures, outFeatures, workspace);
        if (gradBias is not null)
            ChannelReductions.Sum(gy, gradBias, accumulate: true, workspace.Reduction);
    }

    /// <summary>gw += Σ_n gy[n]ᵀ·x[n], one loop over the batch per thread.</summary>
    protected virtual void WeightProduct(DeviceTensor x, DeviceTensor gy, DeviceTensor gradWeight, int n, int inFeatures, int outFeatures,
        DenseWorkspace workspace)
    {
        device.Work(2.0 * n * inFeatures * outFeatures);
        device.Kernels<LinearKernelSet<TView>>().BackwardWeight(new Index2D((inFeatures + 3) / 4, (outFeatures + 1) / 2), gradWeight.View, gy.View, x.View,
            n, inFeatures, outFeatures);
    }
}
