// Element-wise kernels: one generic driver per arity, specialised by operator structs (the
// TensorPrimitives pattern). Every tensor is flat; a launch has layout.Threads threads and thread t
// handles the elements layout.Element(t, k) for k < layout.PerThread that are below layout.Length.
//
//   Unary:  y[e] = op(x[e], p)             y, x: [n]
//   Binary: y[e] = op(a[e], b[e], p)       y, a, b: [n]   (y may alias a or b: each element is read before it is written)
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>An element-wise operator with one scalar parameter <c>p</c>.</summary>
internal interface IUnaryOp
{
    float Apply(float x, float p);
}

/// <summary>An element-wise operator on two tensors with one scalar parameter <c>p</c>.</summary>
internal interface IBinaryOp
{
    float Apply(float a, float b, float p);
}

/// <summary>max(x, 0); NaN stays NaN so that a diverging run is seen.</summary>
internal readonly struct ReluOp : IUnaryOp
{
    public float Apply(float x, float p) => Of(x);

    /// <summary>max(x, 0) with NaN kept: the one ReLU of the project's kernels and host passes (not XMath.Max,
    /// which is fmax on OpenCL and PTX and drops a NaN).</summary>
    public static float Of(float x) => x < 0f ? 0f : x;
}

/// <summary>x · p.</summary>
internal readonly struct ScaleOp : IUnaryOp
{
    public float Apply(float x, float p) => x * p;
}

/// <summary>p (x ignored).</summary>
internal readonly struct FillOp : IUnaryOp
{
    public float Apply(float x, float p) => p;
}

/// <summary>a + b.</summary>
internal readonly struct AddOp : IBinaryOp
{
    public float Apply(float a, float b, float p) => a + b;
}

/// <summary>a · b.</summary>
internal readonly struct MultiplyOp : IBinaryOp
{
    public float Apply(float a, float b, float p) => a * b;
}

/// <summary>a + p · b.</summary>
internal readonly struct AddScaledOp : IBinaryOp
{
    public float Apply(float a, float b, float p) => a + p * b;
}

/// <summary>ReLU backward from the ReLU's output: a = gradient of the output, b = output; a where b &gt; 0.</summary>
internal readonly struct ReluBackwardOp : IBinaryOp
{
    public float Apply(float a, float b, float p) => b > 0f ? a : 0f;
}

internal static class ElementwiseKernels
{
    /// <summary>y[e] = op(x[e], p).</summary>
    public static void Unary<TOp, TView>(Index1D thread, ArrayView<float> yView, ArrayView<float> xView, float p, LaunchLayout layout)
        where TOp : struct, IUnaryOp
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var x = TView.Of(xView);
        var op = default(TOp);
        for (int k = 0; k < layout.PerThread; k++)
        {
            int e = layout.Element(thread, k);
            if (e >= layout.Length)
                break;
            y[e] = op.Apply(x[e], p);
        }
    }

    /// <summary>y[e] = op(a[e], b[e], p).</summary>
    public static void Binary<TOp, TView>(Index1D thread, ArrayView<float> yView, ArrayView<float> aView, ArrayView<float> bView, float p, LaunchLayout layout)
        where TOp : struct, IBinaryOp
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var a = TView.Of(aView);
        var b = TView.Of(bView);
        var op = default(TOp);
        for (int k = 0; k < layout.PerThread; k++)
        {
            int e = layout.Element(thread, k);
            if (e >= layout.Length)
                break;
            y[e] = op.Apply(a[e], b[e], p);
        }
    }
}

/// <summary>The element-wise kernels, closed with a family's kernel view.</summary>
internal sealed class ElementwiseKernelSet<TView> : IKernelSet<ElementwiseKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private ElementwiseKernelSet(KernelLoader loader)
    {
        Relu = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Unary<ReluOp, TView>);
        Scale = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Unary<ScaleOp, TView>);
        Fill = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Unary<FillOp, TView>);
        Add = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Binary<AddOp, TView>);
        Multiply = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Binary<MultiplyOp, TView>);
        AddScaled = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Binary<AddScaledOp, TView>);
        ReluBackward = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout>(
            ElementwiseKernels.Binary<ReluBackwardOp, TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout> Relu { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout> Scale { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, float, LaunchLayout> Fill { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout> Add { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout> Multiply { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout> AddScaled { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, LaunchLayout> ReluBackward { get; }

    public static ElementwiseKernelSet<TView> Load(KernelLoader loader) => new(loader);
}
