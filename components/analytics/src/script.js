(function(w,d,n){
var s=d.currentScript,api=s&&s.getAttribute("data-api")||"/api/v1/analytics/events",cid=s&&s.getAttribute("data-content-id"),q=[],t0=Date.now(),depth=0,done=0;
if(n.doNotTrack=="1"||w.doNotTrack=="1"||n.globalPrivacyControl)return;
function send(){if(!q.length)return;var b=JSON.stringify({events:q.splice(0,100)});
if(!(n.sendBeacon&&n.sendBeacon(api,new Blob([b],{type:"text/plain"}))))fetch(api,{method:"POST",body:b,keepalive:true,credentials:"omit"})}
function track(name,props,contentId){var e={name:name,url:location.href},c=contentId||cid;
if(d.referrer)e.referrer=d.referrer;if(c)e.contentId=c;if(props)e.props=props;
q.push(e);q.length>=100?send():setTimeout(send,0)}
function scroll(){var h=d.documentElement,b=d.body||h,all=Math.max(h.scrollHeight,b.scrollHeight);
if(all)depth=Math.max(depth,Math.min(100,Math.round(((h.scrollTop||b.scrollTop)+h.clientHeight)*100/all)))}
w.folio=track;w.addEventListener("scroll",scroll,{passive:true});track("pageview");
if(cid)d.addEventListener("visibilitychange",function(){if(d.visibilityState=="hidden"&&!done){done=1;scroll();
track("read",{seconds:Math.round((Date.now()-t0)/1000),depth:depth});send()}})
})(window,document,navigator);
